import gc
import math
import os
import threading
import time
from collections import Counter
from typing import List, Tuple

import numpy
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DataLoader, DatasetReader, Vocabulary

from taglm_plugin.lm.lm_cache_data_loader import LmCacheDataLoader
from taglm_plugin.lm.lm_text import LmTextReader
from tests.conftest import FIXTURES

WIKI_ARCHIVE = str(FIXTURES / "lm" / "enwiki_sample.tar.gz")

Example = Tuple[Tuple[Tuple[int, ...], ...], Tuple[int, ...]]


def reader(**params) -> LmTextReader:
    return DatasetReader.from_params(Params({"type": "taglm_lm_text", **params}))


def loader(reader_, cache_directory, **params) -> LmCacheDataLoader:
    return DataLoader.from_params(
        Params({"type": "taglm_lm_cache", "batch_size": 3, "cache_directory": str(cache_directory),
                **params}),
        reader=reader_,
        data_path=WIKI_ARCHIVE,
    )


def allennlp_examples(reader_: LmTextReader, vocab: Vocabulary) -> List[Example]:
    """(character ids per token, target ids) of every sentence, through allennlp's indexers."""
    batch = Batch(list(reader_.read(WIKI_ARCHIVE)))
    batch.index_instances(vocab)
    examples = []
    for instance in batch.instances:
        indexed = instance["tokens"]._indexed_tokens["elmo"]["elmo_tokens"]
        targets = instance["targets"]._indexed_tokens["lm_targets"]["tokens"]
        examples.append((tuple(tuple(chars) for chars in indexed), tuple(targets)))
    return examples


def cached_examples(loader_: LmCacheDataLoader) -> List[Example]:
    examples = []
    for batch in loader_:
        characters = batch["tokens"]["elmo"]["elmo_tokens"][0]
        all_targets = batch["targets"]["lm_targets"]["tokens"]
        for token_types, targets in zip(batch["token_types"], all_targets):
            length = int((token_types != 0).sum())
            assert (token_types[length:] == 0).all() and (targets[length + 1 :] == 0).all()
            assert (targets[: length + 1] != 0).all()
            examples.append(
                (
                    tuple(tuple(row.tolist()) for row in characters[token_types[:length]]),
                    tuple(targets[: length + 1].tolist()),
                )
            )
    return examples


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"direction": "backward"},
        {"split": "train", "held_out_every": 3, "max_sentence_length": 8},
        {"split": "held_out", "held_out_every": 3, "direction": "backward"},
    ],
)
def test_same_character_ids_and_targets_as_the_reader_with_allennlp_indexers(tmp_path, params):
    reader_ = reader(**params)
    vocab = Vocabulary.from_instances(reader_.read(WIKI_ARCHIVE), max_vocab_size={"lm_targets": 20})
    cached = loader(reader_, tmp_path, shuffle=False)
    cached.index_with(vocab)
    expected = allennlp_examples(reader_, vocab)
    assert Counter(cached_examples(cached)) == Counter(expected)
    assert len(cached_examples(cached)) == len(expected)


def test_vocabulary_from_iter_instances_is_the_readers(tmp_path):
    reader_ = reader(split="train", held_out_every=3)
    from_reader = Vocabulary.from_instances(reader_.read(WIKI_ARCHIVE))
    from_loader = Vocabulary.from_instances(loader(reader_, tmp_path).iter_instances())
    assert from_loader.get_index_to_token_vocabulary("lm_targets") == (
        from_reader.get_index_to_token_vocabulary("lm_targets")
    )


def test_one_cache_file_for_both_directions_and_splits(tmp_path):
    for params in ({}, {"direction": "backward"}, {"split": "held_out", "held_out_every": 3}):
        loader(reader(**params), tmp_path)
    assert len(os.listdir(tmp_path)) == 1


def test_a_changed_input_file_gets_a_new_cache(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("One sentence here .\n")
    cache_directory = tmp_path / "cache"
    for content in ("One sentence here .\n", "Another one , longer than the first .\n"):
        text.write_text(content)
        os.utime(text, ns=(0, len(content)))
        cached = DataLoader.from_params(
            Params({"type": "taglm_lm_cache", "batch_size": 2,
                    "cache_directory": str(cache_directory)}),
            reader=reader(),
            data_path=str(text),
        )
        cached.index_with(Vocabulary())
        (batch,) = list(cached)
        assert batch["token_types"].shape[1] == len(content.split())
    assert len(os.listdir(cache_directory)) == 2


def test_each_epoch_shuffles_the_sentences_and_sorts_batches_by_length(tmp_path):
    cached = loader(reader(), tmp_path, batch_size=2, sorting_pool_batches=100)
    cached.index_with(Vocabulary())
    numpy.random.seed(0)
    epochs = [[batch["targets"]["lm_targets"]["tokens"].tolist() for batch in cached] for _ in "ab"]
    assert epochs[0] != epochs[1]
    assert sorted(map(str, epochs[0])) == sorted(map(str, epochs[1]))
    # One sorting pool: the batches' lengths, sorted, are the sorted sentence lengths.
    lengths = [sorted(int((row != 0).sum()) for row in batch["token_types"]) for batch in cached]
    flat = sorted(length for batch in lengths for length in batch)
    assert sorted(lengths) == [flat[index : index + 2] for index in range(0, len(flat), 2)]


def test_batches_per_epoch_continue_across_epochs(tmp_path):
    cached = loader(reader(), tmp_path, batch_size=2, batches_per_epoch=3, shuffle=False)
    cached.index_with(Vocabulary())
    num_batches = len(loader(reader(), tmp_path, batch_size=2))
    assert len(cached) == 3
    seen = [
        batch["targets"]["lm_targets"]["tokens"].tolist()
        for _ in range(num_batches)
        for batch in cached
    ]
    assert len(seen) == 3 * num_batches
    assert seen[:num_batches] == seen[num_batches : 2 * num_batches]
    assert num_batches > 3
    assert [batch["targets"]["lm_targets"]["tokens"].tolist() for batch in cached] == seen[:3]
    cached.restart()  # a new pass, not the rest of the one just cut
    assert [batch["targets"]["lm_targets"]["tokens"].tolist() for batch in cached] == seen[:3]


def batches_as_lists(batches) -> List[list]:
    return [
        [batch["tokens"]["elmo"]["elmo_tokens"].tolist(), batch["token_types"].tolist(),
         batch["targets"]["lm_targets"]["tokens"].tolist()]
        for batch in batches
    ]  # fmt: skip


def prefetch_threads() -> List[threading.Thread]:
    return [thread for thread in threading.enumerate() if "prefetch" in thread.name]


def prefetch_threads_after_collections(seconds: float = 5.0) -> List[threading.Thread]:
    """The prefetching threads still running after garbage collections for up to `seconds`: a
    dropped loader is in a reference cycle with its pass, which a collection frees only while
    its thread is not building a batch (and so holding the loader)."""
    deadline = time.monotonic() + seconds
    while prefetch_threads() and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
    return prefetch_threads()


@pytest.mark.parametrize("batches_per_epoch", [None, 3])
def test_prefetched_batches_are_the_same_in_the_same_order(tmp_path, batches_per_epoch):
    epochs = {}
    for prefetch in (0, 2):
        cached = loader(reader(), tmp_path, batch_size=2, prefetch_batches=prefetch,
                        batches_per_epoch=batches_per_epoch)  # fmt: skip
        cached.index_with(Vocabulary())
        numpy.random.seed(0)
        epochs[prefetch] = [batches_as_lists(cached) for _ in range(4)]
        cached.restart()
        epochs[prefetch].append(batches_as_lists(cached))
        del cached
    assert epochs[0] == epochs[2]
    assert epochs[0][0] != epochs[0][1]  # shuffled: another order in the next epoch
    assert not prefetch_threads_after_collections()


def test_a_prefetching_thread_stops_when_its_pass_is_dropped_or_fails(tmp_path, monkeypatch):
    cached = loader(reader(), tmp_path, batch_size=2, prefetch_batches=1, batches_per_epoch=1)
    cached.index_with(Vocabulary())
    next(iter(cached))
    assert len(prefetch_threads()) == 1  # waiting to hand over the next batch
    cached.restart()
    gc.collect()
    assert not prefetch_threads()

    calls = []
    plain_tensorize = LmCacheDataLoader.tensorize

    def tensorize(self, batch):
        calls.append(batch)
        if len(calls) == 2:
            raise ValueError("the second batch")
        return plain_tensorize(self, batch)

    monkeypatch.setattr(LmCacheDataLoader, "tensorize", tensorize)
    cached.batches_per_epoch = None
    batches = iter(cached)
    next(batches)
    with pytest.raises(ValueError, match="the second batch"):
        next(batches)
    assert not prefetch_threads()


def test_type_rows_padded_to_a_multiple_with_padding_rows_no_token_refers_to(tmp_path):
    reader_ = reader()
    plain, padded = (
        loader(reader_, tmp_path, shuffle=False, **params)
        for params in ({}, {"pad_types_to_multiple": 16})
    )
    for cached in (plain, padded):
        cached.index_with(Vocabulary())
    for unpadded, batch in zip(plain, padded):
        rows = unpadded["tokens"]["elmo"]["elmo_tokens"]
        padded_rows = batch["tokens"]["elmo"]["elmo_tokens"]
        assert padded_rows.shape[1] % 16 == 0 and padded_rows.shape[1] - rows.shape[1] < 16
        assert torch.equal(padded_rows[:, : rows.shape[1]], rows)
        assert (padded_rows[:, rows.shape[1] :] == 0).all()
        assert torch.equal(batch["token_types"], unpadded["token_types"])


def test_batches_go_to_the_target_device(tmp_path):
    cached = loader(reader(), tmp_path)
    cached.index_with(Vocabulary())
    cached.set_target_device(torch.device("cpu"))
    batch = next(iter(cached))
    assert batch["token_types"].device.type == "cpu"


@pytest.mark.parametrize(
    "reader_params, loader_params, message",
    [
        ({}, {"batch_size": 0}, "data_loader.batch_size must be at least 1"),
        ({}, {"pad_types_to_multiple": 0}, "data_loader.pad_types_to_multiple must be at least 1"),
        ({}, {"tokenizing_processes": -1}, "data_loader.tokenizing_processes must be at least 0"),
        ({}, {"prefetch_batches": -1}, "data_loader.prefetch_batches must be at least 0"),
        ({"token_indexers": {"words": {"type": "single_id"}}}, {},
         "dataset_reader.token_indexers to be one elmo_characters indexer"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path, reader_params, loader_params, message):
    with pytest.raises(ConfigurationError, match=message):
        loader(reader(**reader_params), tmp_path, **loader_params)


def test_nothing_selected_is_an_error_naming_the_settings(tmp_path):
    with pytest.raises(ConfigurationError, match="No sentences selected .*max_sentence_length = 1"):
        loader(reader(max_sentence_length=1), tmp_path)


def test_needs_the_lm_text_reader_and_local_files(tmp_path):
    conll = DatasetReader.from_params(Params({"type": "taglm_conll"}))
    with pytest.raises(ConfigurationError, match="needs a taglm_lm_text dataset_reader"):
        loader(conll, tmp_path)
    with pytest.raises(ConfigurationError, match="taglm_lm_cache reads local files only"):
        DataLoader.from_params(
            Params({"type": "taglm_lm_cache", "batch_size": 2, "cache_directory": str(tmp_path)}),
            reader=reader(),
            data_path=str(tmp_path / "missing.txt"),
        )


def test_iterating_before_index_with_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="index_with"):
        next(iter(loader(reader(), tmp_path)))


def shares_of_workers(
    global_rank: int, world_size: int, gpu_id: int, cache_directory: str, vocab: Vocabulary
) -> None:
    """
    One worker's batches (indices into the selected sentences) of two shuffled passes, gathered
    on every worker: disjoint, each sentence once per pass, as many batches on each worker.
    """
    loader_ = loader(reader(), cache_directory)
    loader_.index_with(vocab)
    shares: List[List[int]] = []
    tensorize = loader_.tensorize
    loader_.tensorize = lambda batch: (shares[-1].append(batch.tolist()), tensorize(batch))[1]
    numpy.random.seed(1)
    for _ in range(2):
        shares.append([])
        assert len(list(loader_)) == len(loader_)
    gathered: List[List[List[List[int]]]] = [[] for _ in range(world_size)]
    torch.distributed.all_gather_object(gathered, shares)
    num_sentences = len(loader_._sentences)
    for epoch in range(2):
        batches = [worker_shares[epoch] for worker_shares in gathered]
        assert [len(worker_batches) for worker_batches in batches] == [len(loader_)] * world_size
        sentences = [
            index for worker_batches in batches for batch in worker_batches for index in batch
        ]
        assert sorted(sentences) == list(range(num_sentences))
    assert gathered[0][0] != gathered[0][1]  # each pass in a new order


def test_distributed_workers_get_disjoint_shares_of_every_pass(tmp_path):
    """32 sentences in batches of 3: 11 batches a pass, one is halved for 2 workers."""
    import socket

    import torch.multiprocessing as mp
    from allennlp.common.testing.distributed_test import init_process

    built = loader(reader(), tmp_path)  # the cache file, before the workers read it
    vocab = Vocabulary.from_instances(built.iter_instances())
    assert math.ceil(len(built._sentences) / built.batch_size) % 2 == 1
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.start_processes(
        init_process,
        args=(2, [-1, -1], shares_of_workers, (str(tmp_path), vocab), {}, "127.0.0.1", port),
        nprocs=2,
        start_method="fork",
    )
