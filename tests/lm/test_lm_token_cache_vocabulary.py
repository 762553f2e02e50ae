import pytest
from allennlp.common import Params
from allennlp.data import DataLoader, DatasetReader, Vocabulary

from taglm_plugin.lm.lm_token_cache import LmTokenCache
from taglm_plugin.lm.lm_token_cache_vocabulary import LmTokenCacheVocabulary
from tests.conftest import FIXTURES, count_calls

WIKI_ARCHIVE = str(FIXTURES / "lm" / "enwiki_sample.tar.gz")


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("max_vocab_size", [None, 40, 200])
def test_the_vocabulary_of_the_loaders_instances(tmp_path, direction, max_vocab_size):
    reader_params = {"type": "taglm_lm_text", "direction": direction, "held_out_every": 3,
                     "split": "train", "max_sentence_length": 30}  # fmt: skip
    reader = DatasetReader.from_params(Params(dict(reader_params)))
    loader = DataLoader.from_params(
        Params({"type": "taglm_lm_cache", "batch_size": 3, "cache_directory": str(tmp_path)}),
        reader=reader,
        data_path=WIKI_ARCHIVE,
    )
    sizes = {} if max_vocab_size is None else {"max_vocab_size": {"lm_targets": max_vocab_size}}
    expected = Vocabulary.from_instances(loader.iter_instances(), **sizes)
    vocab = Vocabulary.from_params(
        Params({"type": "taglm_lm_token_cache", "data_path": WIKI_ARCHIVE,
                "dataset_reader": reader_params, "cache_directory": str(tmp_path), **sizes})
    )  # fmt: skip
    assert isinstance(vocab, LmTokenCacheVocabulary)
    assert vocab.get_token_to_index_vocabulary("lm_targets") == (
        expected.get_token_to_index_vocabulary("lm_targets")
    )
    assert vocab.get_namespaces() == expected.get_namespaces()
    if max_vocab_size == 40:
        # The cut falls among words of equal count: their order decides.
        counts = sorted(_target_counts(loader).values(), reverse=True)
        assert counts[39] == counts[40]


def test_the_vocabulary_reads_no_cache_that_a_loader_holds(tmp_path, monkeypatch):
    reader_params = {"type": "taglm_lm_text", "held_out_every": 3, "split": "train"}
    loader = DataLoader.from_params(
        Params({"type": "taglm_lm_cache", "batch_size": 3, "cache_directory": str(tmp_path)}),
        reader=DatasetReader.from_params(Params(dict(reader_params))),
        data_path=WIKI_ARCHIVE,
    )
    reads = count_calls(monkeypatch, LmTokenCache, "load")
    builds = count_calls(monkeypatch, LmTokenCache, "build")
    vocab = Vocabulary.from_params(
        Params({"type": "taglm_lm_token_cache", "data_path": WIKI_ARCHIVE,
                "dataset_reader": reader_params, "cache_directory": str(tmp_path)})
    )  # fmt: skip
    assert not reads and not builds
    expected = Vocabulary.from_instances(loader.iter_instances())
    assert vocab.get_token_to_index_vocabulary("lm_targets") == (
        expected.get_token_to_index_vocabulary("lm_targets")
    )


def _target_counts(loader):
    counts = {}
    for instance in loader.iter_instances():
        for token in instance["targets"].tokens:
            counts[token.text] = counts.get(token.text, 0) + 1
    return counts
