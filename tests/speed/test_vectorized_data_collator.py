import json
import random

import numpy
import pytest
import torch
from allennlp.common import Params
from allennlp.common.util import sanitize
from allennlp.data import DatasetReader, Instance, Token, Vocabulary
from allennlp.data.data_loaders.data_collator import DataCollator, allennlp_collate
from allennlp.data.fields import ArrayField, LabelField, TextField
from allennlp.data.token_indexers import SingleIdTokenIndexer
from allennlp.nn.util import move_to_device

from taglm_plugin.speed.vectorized_data_collator import (
    BatchMetadata,
    VectorizedDataCollator,
)
from tests.conftest import FIXTURES

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
        {**TAGGER_INDEXERS, "casing": {"type": "word_casing"}},
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


def test_batches_sanitize_as_allennlp_batches_do():
    # `allennlp evaluate --predictions-output-file` writes `sanitize(batch)`.
    instances = conll_instances(TAGGER_INDEXERS)[:3]
    sanitized = sanitize(VectorizedDataCollator()(instances))
    assert sanitized == sanitize(allennlp_collate(instances))
    assert sanitized["metadata"][0] == {
        "words": instances[0]["metadata"]["words"],
        "tags": instances[0]["metadata"]["tags"],
    }
    json.dumps(sanitized)


def test_registered_name():
    collate = DataCollator.from_params(Params({"type": "taglm_vectorized"}))
    assert isinstance(collate, VectorizedDataCollator)


RAGGED_INDEXERS = [
    TAGGER_INDEXERS,
    {"tokens": {"type": "single_id"}, "token_characters": {"type": "characters"}},
]


@pytest.mark.parametrize("token_indexers", RAGGED_INDEXERS)
def test_repeated_collation_of_the_same_instances(token_indexers):
    instances = conll_instances(token_indexers)
    collate = VectorizedDataCollator()
    batches = [instances[:7], instances[3:12], instances[:7]]
    firsts = [collate(batch) for batch in batches]
    assert collate._cache  # the later collations read the cache
    for batch, first in zip(batches, firsts):
        expected = allennlp_collate(batch)
        assert_same_batch(first, expected)
        assert_same_batch(collate(batch), expected)


def test_changing_a_batch_in_place_does_not_reach_the_cache():
    instances = conll_instances(TAGGER_INDEXERS)[:5]
    collate = VectorizedDataCollator()
    first = collate(instances)
    for tensor in (first["tokens"]["tokens"]["tokens"], first["tags"]):
        tensor.fill_(-1)
    assert_same_batch(collate(instances), allennlp_collate(instances))


def test_more_instances_than_the_cache_bound():
    instances = conll_instances(TAGGER_INDEXERS)
    collate = VectorizedDataCollator(max_cache_bytes=4000)
    for _ in range(2):
        for start in range(0, len(instances), 5):
            batch = instances[start : start + 5]
            assert_same_batch(collate(batch), allennlp_collate(batch))
            assert collate._cache_bytes == sum(a.nbytes for _, a in collate._cache.values())
            assert collate._cache_bytes <= 4000


def test_no_cache():
    instances = conll_instances(TAGGER_INDEXERS)[:6]
    collate = VectorizedDataCollator(max_cache_bytes=0)
    assert_same_batch(collate(instances), allennlp_collate(instances))
    assert not collate._cache


def test_a_new_row_with_the_id_of_an_evicted_one_is_not_read_from_the_cache():
    # A bound of one row's array: each row evicts the one before, whose list, once no longer
    # referenced, Python reuses for the next row's list, with the same id.
    collate = VectorizedDataCollator(max_cache_bytes=8)
    rng = random.Random(0)
    seen_ids = set()
    reused = 0
    for _ in range(50):
        labels = [rng.randrange(100) for _ in range(rng.randint(1, 8))]
        reused += id(labels) in seen_ids
        seen_ids.add(id(labels))
        assert collate._pad([labels], 1, (0, 0)).tolist() == [labels]
        del labels
    assert reused  # the test did reuse ids


def test_a_row_that_changed_length_is_converted_again():
    collate = VectorizedDataCollator()
    row = [[1, 2], [3]]
    assert collate._pad([row], 2, (0, 0)).tolist() == [[[1, 2], [3, 0]]]
    row.append([4, 5, 6])
    assert collate._pad([row], 2, (0, 0)).tolist() == [[[1, 2, 0], [3, 0, 0], [4, 5, 6]]]
