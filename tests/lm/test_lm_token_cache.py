import os
from concurrent.futures.process import BrokenProcessPool

import numpy
import pytest

from taglm_plugin.lm import lm_token_cache
from taglm_plugin.lm.lm_text import LmTextFormatError, LmTextReader
from taglm_plugin.lm.lm_token_cache import LmTokenCache, cache_key
from tests.conftest import FIXTURES, count_calls

WIKI_ARCHIVE = str(FIXTURES / "lm" / "enwiki_sample.tar.gz")


def test_holds_every_sentence_of_every_document_in_reading_order():
    reader = LmTextReader()
    cache = LmTokenCache.build(reader, WIKI_ARCHIVE)
    expected = list(reader.document_sentences(WIKI_ARCHIVE))
    assert [cache.sentence(index) for index in range(cache.num_sentences)] == [
        tokens for _, tokens in expected
    ]
    assert cache.sentence_documents.tolist() == [document for document, _ in expected]
    assert cache.sentence_lengths().tolist() == [len(tokens) for _, tokens in expected]
    assert len(set(cache.types)) == len(cache.types)


@pytest.mark.parametrize("processes, characters_per_chunk", [(1, 1), (1, 3000), (2, 1), (2, 3000)])
def test_chunks_and_processes_give_the_one_chunk_cache(processes, characters_per_chunk):
    reader = LmTextReader()
    whole = LmTokenCache.build(reader, WIKI_ARCHIVE, characters_per_chunk=10**9)
    assert len({document for document, _ in reader.documents(WIKI_ARCHIVE)}) > 2
    chunked = LmTokenCache.build(reader, WIKI_ARCHIVE, processes, characters_per_chunk)
    assert chunked.types == whole.types
    for name in ("token_types", "sentence_starts", "sentence_documents"):
        numpy.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))
        assert getattr(chunked, name).dtype == getattr(whole, name).dtype


def _dies_on_the_third_document(documents):
    if any(index == 2 for index, _ in documents):
        os._exit(1)
    return lm_token_cache._tokenize(lm_token_cache._process_nlp, documents)


def test_a_tokenizing_process_that_dies_fails_the_build(monkeypatch):
    monkeypatch.setattr(lm_token_cache, "_tokenize_in_process", _dies_on_the_third_document)
    with pytest.raises(BrokenProcessPool):
        LmTokenCache.build(LmTextReader(), WIKI_ARCHIVE, 2, characters_per_chunk=1)


@pytest.mark.parametrize("processes", [1, 2])
def test_a_malformed_file_after_good_ones_names_its_line(tmp_path, processes):
    good = "".join(
        f'<doc id="{i}" url="u" title="T{i}">\nT{i}\nSome text here . Another one .\n</doc>\n'
        for i in range(5)
    )
    (tmp_path / "a.txt").write_text(good)
    (tmp_path / "b.txt").write_text(good + "stray text\n")
    with pytest.raises(LmTextFormatError, match=r"b\.txt, line 21: text outside <doc>"):
        LmTokenCache.build(LmTextReader(), str(tmp_path / "*.txt"), processes, 1)


def test_save_and_load_keep_the_arrays_and_any_characters(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("Zoë met Ørsted in Kraków .\nThe café\tis open .\n", encoding="utf-8")
    cache = LmTokenCache.build(LmTextReader(), str(text))
    path = str(tmp_path / "cache.npz")
    cache.save(path, key="k")
    loaded = LmTokenCache.load(path, key="k")
    assert loaded.types == cache.types and "Kraków" in loaded.types
    for name in ("token_types", "sentence_starts", "sentence_documents"):
        numpy.testing.assert_array_equal(getattr(loaded, name), getattr(cache, name))
    with pytest.raises(ValueError, match="cache.npz is the token cache of another input"):
        LmTokenCache.load(path, key="other")


def test_load_or_build_writes_one_file_and_reads_it_back(tmp_path, monkeypatch):
    first = LmTokenCache.load_or_build(LmTextReader(), WIKI_ARCHIVE, str(tmp_path))
    (name,) = [path.name for path in tmp_path.iterdir()]
    assert name.startswith("lm_tokens-") and name.endswith(".npz")
    types = first.types
    del first  # no longer held: the next call reads the file
    loads = count_calls(monkeypatch, LmTokenCache, "load")
    second = LmTokenCache.load_or_build(LmTextReader(), WIKI_ARCHIVE, str(tmp_path))
    assert second.types == types and len(loads) == 1


def test_a_held_cache_is_given_again_without_reading(tmp_path, monkeypatch):
    first = LmTokenCache.load_or_build(LmTextReader(), WIKI_ARCHIVE, str(tmp_path))
    loads = count_calls(monkeypatch, LmTokenCache, "load")
    assert LmTokenCache.load_or_build(LmTextReader(), WIKI_ARCHIVE, str(tmp_path)) is first
    assert not loads
    (tmp_path / "other").mkdir()
    other = LmTokenCache.load_or_build(LmTextReader(), WIKI_ARCHIVE, str(tmp_path / "other"))
    assert other is not first and other.types == first.types


def test_key_covers_every_file_of_a_glob(tmp_path):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("Text .\n")
    key = cache_key(str(tmp_path / "*.txt"))
    assert "a.txt" in key and "b.txt" in key
