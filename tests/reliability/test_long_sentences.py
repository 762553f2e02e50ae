"""
A 1,500-token sentence (CoNLL-2003's longest has 124) goes through training (forward and
backward) and prediction on the CPU, in the architecture of training_configs/ner/taglm.jsonnet
(the baseline's char CNN, 2 x biLSTM 300 and CRF, plus the LM injection; GloVe replaced by
random vectors, the LMs by tiny random ones): no running out of memory, no overflow in the CRF
over long sequences.
"""
import json

import pytest
import torch
from allennlp.common import Params
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.predictors import Predictor

from tests.bilm.tiny_bilms import (
    tiny_language_model_config,
    write_tiny_language_model,
)
from tests.conftest import REPO_ROOT
from tests.reliability.conftest import TINY_TAGGER_TRAIN

NUM_TOKENS = 1500
# State size of each layer of the tiny LMs (tiny_language_model_config).
TINY_LM_STATE_DIM = 5
NO_GLOVE = {"model.text_field_embedder.token_embedders.tokens.pretrained_file": None}


@pytest.fixture(scope="module")
def tiny_lm_archives(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny_lms")
    return {
        direction: write_tiny_language_model(
            directory / direction, tiny_language_model_config(direction), seed=seed
        )[0]
        for seed, direction in enumerate(("forward", "backward"))
    }


def long_sentence(reader):
    """Whole training sentences, then "." tagged O, up to NUM_TOKENS tokens."""
    tokens, tags = [], []
    for sentence in reader.read_sentences(str(TINY_TAGGER_TRAIN)) * 100:
        if len(tokens) + len(sentence.tokens) > NUM_TOKENS:
            break
        tokens += sentence.tokens
        tags += sentence.tags
    padding = NUM_TOKENS - len(tokens)
    return tokens + ["."] * padding, tags + ["O"] * padding


@pytest.mark.usefixtures("one_torch_thread")
def test_a_1500_token_sentence_trains_and_is_tagged(monkeypatch, tiny_lm_archives):
    monkeypatch.setenv("FORWARD_LM", tiny_lm_archives["forward"])
    monkeypatch.setenv("BACKWARD_LM", tiny_lm_archives["backward"])
    monkeypatch.setenv("LM_STATE_DIM", str(TINY_LM_STATE_DIM))
    params = Params.from_file(
        str(REPO_ROOT / "training_configs" / "ner" / "taglm.jsonnet"),
        params_overrides=json.dumps(NO_GLOVE),
    )
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    tokens, tags = long_sentence(reader)
    instance = reader.text_to_instance(tokens, tags)
    reader.apply_token_indexers(instance)
    vocab = Vocabulary.from_instances(reader.read(str(TINY_TAGGER_TRAIN)))
    model = Model.from_params(vocab=vocab, params=params.pop("model"))
    batch = Batch([instance])
    batch.index_instances(vocab)

    model.train()
    output = model(**batch.as_tensor_dict())
    output["loss"].backward()

    assert torch.isfinite(output["loss"])
    gradients = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in gradients)
    prediction = Predictor.by_name("taglm_tagger")(model, reader).predict_json({"tokens": tokens})
    assert len(prediction["tags"]) == NUM_TOKENS
