from allennlp.common import Params

import taglm_plugin  # noqa: F401  (the configs' extVar defaults)
from tests.conftest import REPO_ROOT


def evaluate(path: str) -> dict:
    return Params.from_file(str(REPO_ROOT / path)).as_dict()


def test_comparison_config_differs_from_the_baseline_only_in_model_type_and_collation():
    baseline = evaluate("training_configs/ner/baseline.jsonnet")
    comparison = evaluate("benchmarks/configs/allennlp_models_crf_tagger.jsonnet")
    assert comparison["model"].pop("type") == "crf_tagger"
    assert baseline["model"].pop("type") == "taglm_tagger"
    for loader in ("data_loader", "validation_data_loader"):
        assert baseline[loader].pop("collate_fn") == {"type": "taglm_vectorized"}
        assert "collate_fn" not in comparison[loader]
    assert comparison == baseline
