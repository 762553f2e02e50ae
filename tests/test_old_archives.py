"""
Archives written by an earlier version of the package (`tests/fixtures/archives`, see its
`build.py`) load with the current code and compute what they computed then.
"""
import json

import pytest
import torch
from allennlp.data import Batch
from allennlp.predictors import Predictor

import taglm_plugin  # noqa: F401  (registers the components)
from taglm_plugin.common.safe_loading import load_archive
from taglm_plugin.lm.encoder_export import export_encoder_archive
from tests.conftest import FIXTURES

ARCHIVES = FIXTURES / "archives"
EXPECTED = json.loads((ARCHIVES / "expected.json").read_text())


def lm_results(archive_path, with_loss: bool = True) -> dict:
    archive = load_archive(str(archive_path))
    model, reader = archive.model.eval(), archive.dataset_reader
    instances = [reader.text_to_instance(s.split()) for s in EXPECTED["lm_sentences"]]
    for instance in instances:
        reader.apply_token_indexers(instance)
    batch = Batch(instances)
    batch.index_instances(model.vocab)
    tensors = batch.as_tensor_dict()
    with torch.no_grad():
        loss = model(**tensors)["loss"] if with_loss else None
        states = model.contextual_states(tensors["tokens"])
    return {"loss": None if loss is None else float(loss), "states": states}


def assert_states_equal(states, expected) -> None:
    assert len(states) == len(expected)
    for layer, expected_layer in zip(states, expected):
        torch.testing.assert_close(layer, torch.tensor(expected_layer), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["language_model", "backward_language_model"])
def test_an_old_language_model_archive_gives_its_loss_and_states(name):
    results = lm_results(ARCHIVES / f"{name}.tar.gz")
    assert results["loss"] == pytest.approx(EXPECTED[name]["loss"], abs=1e-6)
    assert_states_equal(results["states"], EXPECTED[name]["states"])


def test_the_encoder_export_of_an_old_language_model_archive_gives_its_states(tmp_path):
    encoder_archive = tmp_path / "encoder.tar.gz"
    export_encoder_archive(str(ARCHIVES / "language_model.tar.gz"), str(encoder_archive))
    results = lm_results(encoder_archive, with_loss=False)
    assert_states_equal(results["states"], EXPECTED["language_model"]["states"])


@pytest.mark.parametrize("name", ["baseline_tagger", "taglm_tagger"])
def test_an_old_tagger_archive_predicts_as_it_did(name):
    predictor = Predictor.from_archive(load_archive(str(ARCHIVES / f"{name}.tar.gz")))
    sentences = EXPECTED["sentences"]
    assert predictor.predict_batch_json([{"sentence": s} for s in sentences]) == (
        EXPECTED[name]["predictions"]
    )
    reader = predictor._dataset_reader
    instances = [reader.text_to_instance(sentence.split()) for sentence in sentences]
    for instance in instances:
        reader.apply_token_indexers(instance)
    outputs = predictor._model.forward_on_instances(instances)
    for output, expected_logits in zip(outputs, EXPECTED[name]["logits"]):
        torch.testing.assert_close(
            torch.from_numpy(output["logits"]), torch.tensor(expected_logits), rtol=0, atol=1e-5
        )


def test_the_taglm_archive_holds_its_bilm():
    model = load_archive(str(ARCHIVES / "taglm_tagger.tar.gz")).model
    assert model.lm_embedder is not None
    assert not any(p.requires_grad for p in model.lm_embedder.parameters())
