import struct
from typing import Dict, List

import lmdb
import numpy
import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.modules.elmo import batch_to_ids

from taglm_plugin.bilm.frozen_bilm import FrozenBiLmEmbedder
from taglm_plugin.bilm.state_cache import _splitmix64, sentence_keys
from taglm_plugin.common.fingerprints import state_dict_fingerprint
from tests.bilm.tiny_bilms import tiny_language_model_config, write_tiny_language_model

SENTENCES = [
    ["The", "cat", "sat", "on", "it", "."],
    ["Dogs", "bark"],
    ["A", "long", "sentence", "of", "many", "words", "here"],
    ["Hi"],
    ["the", "cat"],
]
# A state is (num_tokens, 10) float32: 40 bytes a token.
STATE_BYTES_PER_TOKEN = 40


def write_archives(directory, first_seed: int) -> Dict[str, str]:
    return {
        f"{direction}_archive": write_tiny_language_model(
            directory / direction, tiny_language_model_config(direction), seed=first_seed + i
        )[0]
        for i, direction in enumerate(["forward", "backward"])
    }


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> Dict[str, str]:
    return write_archives(tmp_path_factory.mktemp("lm"), first_seed=0)


def embedder(archives: Dict[str, str], **config) -> FrozenBiLmEmbedder:
    return FrozenBiLmEmbedder(**{"expected_dim": 10, "pretrained_file": archives, **config})


def batch(rows: List[int]) -> Dict[str, torch.Tensor]:
    return {"elmo_tokens": batch_to_ids([SENTENCES[row] for row in rows])}


def count_lm_calls(monkeypatch, cached: FrozenBiLmEmbedder) -> List[torch.Size]:
    """Records the shape of the LM input of every LM call of `cached`."""
    calls: List[torch.Size] = []
    run_bilm = cached.bilm.forward

    def counted(lm_tensors, layer, token_encoder_dtype=None):
        calls.append(lm_tensors["elmo_tokens"].shape)
        return run_bilm(lm_tensors, layer, token_encoder_dtype)

    monkeypatch.setattr(cached.bilm, "forward", counted)
    return calls


def test_cached_states_equal_computed_states_across_passes_and_batches(monkeypatch, archives):
    computing = embedder(archives)
    cached = embedder(archives, cache={"max_memory_mib": 1})
    calls = count_lm_calls(monkeypatch, cached)
    first_pass = [[0, 1, 2], [3, 4]]
    second_pass = [[4, 2, 0, 3, 1], [1], [2, 2, 3]]
    for rows in first_pass + second_pass:
        expected = computing(**batch(rows))
        output = cached(**batch(rows))
        assert output.shape == expected.shape and output.dtype == torch.float32
        torch.testing.assert_close(output, expected, atol=1e-6, rtol=0)
        assert expected[:, 0].abs().min() > 0
    assert calls == [(3, 7, 50), (2, 2, 50)]
    assert len(cached.state_cache) == len(SENTENCES)
    # The states of one LM call are views of one tensor of their real tokens.
    storages = {states.untyped_storage() for states in cached.state_cache._states.values()}
    assert sorted(storage.nbytes() for storage in storages) == [
        (1 + 2) * STATE_BYTES_PER_TOKEN,
        (6 + 2 + 7) * STATE_BYTES_PER_TOKEN,
    ]


def test_the_lm_runs_once_on_the_distinct_sentences_not_found(monkeypatch, archives):
    cached = embedder(archives, cache={"max_memory_mib": 1})
    calls = count_lm_calls(monkeypatch, cached)
    cached(**batch([0, 1]))
    output = cached(**batch([1, 2, 3, 2, 0]))
    # One sub-batch of sentences 2 and 3, as long as its longest sentence.
    assert calls == [(2, 6, 50), (2, 7, 50)]
    torch.testing.assert_close(output[1], output[3], atol=0, rtol=0)
    torch.testing.assert_close(
        output, embedder(archives)(**batch([1, 2, 3, 2, 0])), atol=1e-6, rtol=0
    )


def test_memory_bound_stops_adding_states(monkeypatch, archives):
    # Sentence 0 (6 tokens, 240 bytes) fits, then sentence 1 (2 tokens) would exceed 300 bytes.
    cached = embedder(archives, cache={"max_memory_mib": 300 / 2**20})
    calls = count_lm_calls(monkeypatch, cached)
    first = cached(**batch([0, 1]))
    assert len(cached.state_cache) == 1
    assert cached.state_cache.memory_bytes == 6 * STATE_BYTES_PER_TOKEN
    # Copied out of the batch's states, which are not kept alive.
    (kept,) = cached.state_cache._states.values()
    assert kept.untyped_storage().nbytes() == 6 * STATE_BYTES_PER_TOKEN
    second = cached(**batch([0, 1]))
    assert calls == [(2, 6, 50), (1, 2, 50)]
    torch.testing.assert_close(first, second, atol=1e-6, rtol=0)


def test_disk_store_is_reused_by_another_embedder(monkeypatch, archives, tmp_path):
    store = tmp_path / "states"
    writing = embedder(archives, cache={"max_memory_mib": 0, "directory": str(store)})
    written = writing(**batch([0, 1, 2]))
    assert len(writing.state_cache) == 0 and (store / "data.mdb").is_file()

    reading = embedder(archives, cache={"max_memory_mib": 1, "directory": str(store)})
    calls = count_lm_calls(monkeypatch, reading)
    output = reading(**batch([2, 0, 3]))
    assert calls == [(1, 1, 50)]
    assert len(reading.state_cache) == 3
    torch.testing.assert_close(output[[1, 0]], written[[0, 2]], atol=0, rtol=0)
    expected = embedder(archives)(**batch([2, 0, 3]))
    torch.testing.assert_close(output, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("other", ["weights", "layer", "directions"])
def test_disk_store_of_another_lm_is_refused(archives, tmp_path, other):
    store = str(tmp_path / "states")
    embedder(archives, cache={"max_memory_mib": 1, "directory": store})(**batch([0]))
    config = {
        "weights": {"pretrained_file": write_archives(tmp_path / "other_lm", first_seed=5)},
        "layer": {"layer": 1},
        "directions": {"directions": "forward", "expected_dim": 5},
    }[other]
    other_lm = embedder(archives, cache={"max_memory_mib": 1, "directory": store}, **config)
    with pytest.raises(
        ConfigurationError, match=f"cache.directory = {store} holds the states of another LM"
    ):
        other_lm(**batch([0]))


def test_disk_store_without_the_key_format_is_refused(archives, tmp_path):
    # A store of a fingerprint and 16-byte keys, without the format entry.
    store = tmp_path / "states"
    with lmdb.open(str(store)) as environment, environment.begin(write=True) as transaction:
        transaction.put(b"lm_fingerprint", b"0" * 64)
        transaction.put(bytes(16), bytes(6 * STATE_BYTES_PER_TOKEN))
    cached = embedder(archives, cache={"max_memory_mib": 1, "directory": str(store)})
    with pytest.raises(
        ConfigurationError,
        match=f"cache.directory = {store} holds LM states under sentence keys of another "
        r"format \(not named; ",
    ):
        cached(**batch([0]))


def test_directory_that_is_not_a_store_is_refused(archives, tmp_path):
    (tmp_path / "notes.txt").write_text("not LM states")
    cached = embedder(archives, cache={"max_memory_mib": 1, "directory": str(tmp_path)})
    with pytest.raises(ConfigurationError, match="is not an LM state store"):
        cached(**batch([0]))


@pytest.mark.parametrize(
    "cache",
    [{}, {"max_memory_mib": 1, "size": 2}, {"max_memory_mib": -1}, {"max_memory_mib": "1"}],
)
def test_bad_cache_config(archives, cache):
    with pytest.raises(ConfigurationError, match=r"cache(\.max_memory_mib)? must be"):
        embedder(archives, cache=cache)


def test_fingerprint_tells_state_dicts_apart():
    state_dict = {"weight": torch.arange(6.0).view(2, 3), "ids": torch.zeros(0, dtype=torch.uint8)}
    fingerprint = state_dict_fingerprint(state_dict, "layer -1")
    assert fingerprint == state_dict_fingerprint(dict(reversed(state_dict.items())), "layer -1")
    assert fingerprint != state_dict_fingerprint(state_dict, "layer 1")
    changed = {**state_dict, "weight": state_dict["weight"].clone()}
    changed["weight"][1, 2] += 1e-6
    assert fingerprint != state_dict_fingerprint(changed, "layer -1")
    reshaped = {**state_dict, "weight": state_dict["weight"].view(3, 2)}
    assert fingerprint != state_dict_fingerprint(reshaped, "layer -1")


def reference_splitmix64(index: int) -> int:
    mixed = (index + 1) * 0x9E3779B97F4A7C15 % 2**64
    mixed = (mixed ^ mixed >> 30) * 0xBF58476D1CE4E5B9 % 2**64
    mixed = (mixed ^ mixed >> 27) * 0x94D049BB133111EB % 2**64
    return mixed ^ mixed >> 31


def reference_key(tensors: Dict[str, torch.Tensor], row: int, length: int) -> bytes:
    """`sentence_keys`' key of one sentence, in Python integers."""
    values = [length]
    for position, name in enumerate(sorted(tensors)):
        ids = tensors[name][row, :length].reshape(-1).tolist()
        for stream in (2 * position, 2 * position + 1):
            multipliers = [reference_splitmix64(stream * 2**40 + i) for i in range(len(ids))]
            values.append(sum(x * r for x, r in zip(ids, multipliers)) % 2**64)
    return struct.pack(f"<{len(values)}Q", *values)


def test_splitmix64_gives_the_reference_outputs():
    # The first outputs of SplitMix64 seeded with 0.
    outputs = _splitmix64(numpy.arange(3, dtype=numpy.uint64)).tolist()
    assert outputs == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def test_sentence_keys_are_stable():
    """A change of the keys must change KEY_FORMAT, then this test's keys."""
    chars = torch.tensor([[[3, 1], [4, 1], [0, 0]], [[5, 9], [0, 0], [0, 0]]])
    words = torch.tensor([[2, 7, 0], [8, 0, 0]])
    keys, lengths = sentence_keys({"words": words, "chars": chars}, words != 0)
    assert lengths == [2, 1]
    assert [key.hex() for key in keys] == [
        "0200000000000000" "2966848521c47728" "7bb12df12e39420c"
        "ffed08453c32b8e8" "33f83edb8debca0c",
        "0100000000000000" "ff991917dfdae04c" "42a7dd225770abe6"
        "103218036a160624" "78eb147651e0aabf",
    ]


def test_sentence_keys_equal_their_definition_for_large_ids():
    generator = torch.Generator().manual_seed(0)
    tensors = {
        "chars": torch.randint(0, 2**20, (4, 9, 50), generator=generator),
        "words": torch.randint(1, 2**40, (4, 9), generator=generator),
    }
    mask = torch.arange(9) < torch.tensor([[9], [3], [1], [0]])
    keys, lengths = sentence_keys(tensors, mask)
    assert lengths == [9, 3, 1, 0]
    assert keys == [reference_key(tensors, row, length) for row, length in enumerate(lengths)]


def test_sentence_keys_tell_sentences_apart_but_not_their_padding():
    ids = batch_to_ids([SENTENCES[0], SENTENCES[2]])
    keys, _ = sentence_keys({"elmo_tokens": ids}, (ids > 0).any(dim=2))
    # Alone (less padding), and with other ids at the padding (which the mask leaves out).
    alone = batch_to_ids([SENTENCES[0]])
    assert sentence_keys({"elmo_tokens": alone}, (alone > 0).any(dim=2))[0] == keys[:1]
    mask = (ids > 0).any(dim=2)
    assert sentence_keys({"elmo_tokens": ids.masked_fill(~mask[..., None], 7)}, mask)[0] == keys
    # One character id changed.
    changed = ids.clone()
    changed[0, 3, 2] += 1
    changed_keys, _ = sentence_keys({"elmo_tokens": changed}, mask)
    assert changed_keys[0] != keys[0] and changed_keys[1] == keys[1]
    # Only the length changed: a last token of id 0 counted as real.
    words = torch.tensor([[4, 2, 0]])
    shorter, _ = sentence_keys({"words": words}, torch.tensor([[True, True, False]]))
    longer, _ = sentence_keys({"words": words}, torch.tensor([[True, True, True]]))
    assert shorter != longer
