import random

import numpy
import pytest
import torch
from allennlp.common import Params
from allennlp.data import DatasetReader, Instance, Token, Vocabulary
from allennlp.data.data_loaders.data_collator import DataCollator, allennlp_collate
from allennlp.data.fields import ArrayField, LabelField, TextField
from allennlp.data.token_indexers import SingleIdTokenIndexer
from allennlp.nn.util import move_to_device

from taglm_plugin.data.data_collators.vectorized_data_collator import (
    BatchMetadata,
    VectorizedDataCollator,
)

from ...conftest import FIXTURES

CONLL = str(FIXTURES / "tagger" / "conll2003" / "eng.train")


def assert_same_batch(actual, expected, path="batch"):
    if isinstance(actual, BatchMetadata):  # allennlp's is a list
        actual = list(actual)
    assert type(actual) is type(expected), path
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), path
        for key in expected:
            assert_same_batch(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, torch.Tensor):
        assert actual.dtype == expected.dtype, path
        assert actual.shape == expected.shape, path
        assert torch.equal(actual, expected), path
    else:
        assert actual == expected, path


def conll_instances(token_indexers):
    reader = DatasetReader.from_params(
        Params({"type": "taglm_conll", "tag_column": 3, "token_indexers": token_indexers})
    )
    instances = list(reader.read(CONLL))
    vocab = Vocabulary.from_instances(instances)
    for instance in instances:
        instance.index_fields(vocab)
    return instances


TAGGER_INDEXERS = {
    "tokens": {"type": "normalized_single_id"},
    "token_characters": {"type": "characters", "min_padding_length": 3},
    "lm": {"type": "elmo_characters"},
}


@pytest.mark.parametrize(
    "token_indexers",
    [
        TAGGER_INDEXERS,
        # Minimum lengths longer than every sentence and token of the fixture.
        {
            "tokens": {"type": "single_id", "token_min_padding_length": 80},
            "token_characters": {"type": "characters", "min_padding_length": 40},
        },
    ],
)
def test_same_tensors_as_allennlp_collate(token_indexers):
    instances = conll_instances(token_indexers)
    rng = random.Random(0)
    collate = VectorizedDataCollator()
    for batch_size in (1, 2, 7, len(instances)):
        batch = rng.sample(instances, batch_size)
        assert_same_batch(collate(batch), allennlp_collate(batch))


def test_does_not_pad_instance_by_instance(monkeypatch):
    instances = conll_instances(TAGGER_INDEXERS)

    def padding_one_instance(*args, **kwargs):
        raise AssertionError("padded one instance at a time")

    for name in ("TextField", "SequenceLabelField"):
        monkeypatch.setattr(f"allennlp.data.fields.{name}.as_tensor", padding_one_instance)
    VectorizedDataCollator()(instances[:8])


class NonzeroPaddingIndexer(SingleIdTokenIndexer):
    def as_padded_tensor_dict(self, tokens, padding_lengths):
        ids = tokens["tokens"] + [-1] * (padding_lengths["tokens"] - len(tokens["tokens"]))
        return {"tokens": torch.LongTensor(ids)}


def test_other_fields_and_indexers_are_batched_as_allennlp_does():
    vocab = Vocabulary()
    indexers = {"own": NonzeroPaddingIndexer(), "plain": SingleIdTokenIndexer()}
    instances = [
        Instance(
            {
                "text": TextField([Token(word) for word in words], indexers),
                "label": LabelField(index, skip_indexing=True),
                "array": ArrayField(numpy.ones(len(words)), padding_value=-7),
            }
        )
        for index, words in enumerate([["a", "b", "c"], ["d"], ["e", "f"]])
    ]
    for instance in instances:
        instance.index_fields(vocab)
    batch = VectorizedDataCollator()(instances)
    assert_same_batch(batch, allennlp_collate(instances))
    assert batch["text"]["own"]["tokens"][1].tolist() == [1, -1, -1]
    assert batch["array"][1].tolist() == [1, -7, -7]


def test_move_to_device_passes_over_the_metadata(monkeypatch):
    instances = conll_instances(TAGGER_INDEXERS)[:4]
    batch = VectorizedDataCollator()(instances)
    metadata = batch["metadata"]
    assert [item["words"] for item in metadata] == [i["metadata"]["words"] for i in instances]
    visits = []
    real_int_to_device = move_to_device.__globals__["int_to_device"]

    def counting_int_to_device(device):
        visits.append(device)
        return real_int_to_device(device)

    monkeypatch.setitem(move_to_device.__globals__, "int_to_device", counting_int_to_device)
    assert move_to_device(batch, torch.device("meta"))["metadata"] is metadata
    # One visit per dict and tensor (the batch, tokens, 3 indexers, 3 + 1 tensors) and the
    # metadata: not one per word.
    assert len(visits) == 10 < sum(len(item["words"]) for item in metadata)


def test_registered_name():
    collate = DataCollator.from_params(Params({"type": "taglm_vectorized"}))
    assert isinstance(collate, VectorizedDataCollator)
