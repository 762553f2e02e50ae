"""tagger.libsonnet's dropout fields reach the model: `dropout` as CrfTagger's `dropout`, the
rare-word fields as the word embedding's, `rnn_dropout_mask` as the encoder's `dropout_mask`."""
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


def test_rare_word_fields_reach_the_word_embedding_only_when_set(tmp_path):
    def word_embedding(fields):
        return model_params(tmp_path, fields)["text_field_embedder"]["token_embedders"]["tokens"]

    off = word_embedding("rare_word_dropout:: null")
    assert "rare_word_dropout" not in off and "rare_word_share" not in off
    rare = word_embedding("rare_word_dropout:: 0.3, rare_word_share:: 0.4")
    assert (rare["rare_word_dropout"], rare["rare_word_share"]) == (0.3, 0.4)
    assert rare["word_dropout"] == off["word_dropout"]
    # The NER baseline's choice on dev (docs/RESULTS.md).
    chosen = word_embedding("")
    assert (chosen["rare_word_dropout"], chosen["rare_word_share"]) == (0.5, 0.5)


def test_rnn_dropout_mask_reaches_the_encoder_only_when_not_per_token(tmp_path):
    assert "dropout_mask" not in model_params(tmp_path, "")["encoder"]
    encoder = model_params(tmp_path, "rnn_dropout_mask:: 'sentence'")["encoder"]
    assert (encoder["dropout_mask"], encoder["dropout"]) == ("sentence", 0.25)
