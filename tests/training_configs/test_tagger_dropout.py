"""tagger.libsonnet's `dropout` field reaches the model as CrfTagger's `dropout`."""
from allennlp.common import Params

import taglm_plugin  # noqa: F401  (sets the configs' environment defaults)

from tests.conftest import REPO_ROOT

BASELINE = REPO_ROOT / "training_configs" / "ner" / "baseline.jsonnet"


def model_params(tmp_path, fields: str) -> dict:
    config = tmp_path / "variant.jsonnet"
    config.write_text(f"(import '{BASELINE}') + {{ {fields} }}")
    return Params.from_file(str(config)).as_dict()["model"]


def test_dropout_field_sets_the_models_dropout(tmp_path):
    assert "dropout" not in model_params(tmp_path, "")
    assert model_params(tmp_path, "dropout:: 0.5")["dropout"] == 0.5
