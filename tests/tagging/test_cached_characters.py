import pickle
from collections import defaultdict

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance, Token, Vocabulary
from allennlp.data.data_loaders.data_collator import allennlp_collate
from allennlp.data.fields import TextField
from allennlp.data.token_indexers import ELMoTokenCharactersIndexer, TokenCharactersIndexer

from taglm_plugin.speed.vectorized_data_collator import VectorizedDataCollator
from taglm_plugin.tagging import cached_characters
from taglm_plugin.tagging.cached_characters import (
    CachedElmoCharactersIndexer,
    CachedTokenCharactersIndexer,
    with_cached_elmo_characters,
)

WORDS = ["The", "cat", "sat", "on", "the", "mat", "The", "cat"]


def vocabulary(characters: str) -> Vocabulary:
    vocab = Vocabulary()
    for character in characters:
        vocab.add_token_to_namespace(character, "token_characters")
    return vocab


@pytest.mark.parametrize(
    "kwargs", [{}, {"start_tokens": ["<s>"], "end_tokens": ["</s>"], "min_padding_length": 3}]
)
def test_same_indices_and_tensors_as_allennlps_indexer(kwargs):
    cached, reference = CachedTokenCharactersIndexer(**kwargs), TokenCharactersIndexer(**kwargs)
    vocab = vocabulary("Thecatsonm<>/")
    tokens = [Token(word) for word in WORDS]
    for _ in range(2):  # filling the cache, then reading it
        indices = cached.tokens_to_indices(tokens, vocab)
        expected = reference.tokens_to_indices(tokens, vocab)
        assert indices == expected
        lengths = cached.get_padding_lengths(indices)
        assert lengths == reference.get_padding_lengths(expected)
        padded = cached.as_padded_tensor_dict(indices, lengths)["token_characters"]
        assert padded.tolist() == reference.as_padded_tensor_dict(expected, lengths)[
            "token_characters"
        ].tolist()


def test_another_or_an_extended_vocabulary_gets_its_own_ids():
    indexer = CachedTokenCharactersIndexer()
    tokens = [Token("cat")]
    small, other = vocabulary("c"), vocabulary("tac")
    unknown = small.get_token_index("@@UNKNOWN@@", "token_characters")
    assert indexer.tokens_to_indices(tokens, small)["token_characters"] == [[2, unknown, unknown]]
    assert indexer.tokens_to_indices(tokens, other)["token_characters"] == [[4, 3, 2]]
    other.add_token_to_namespace("x", "token_characters")
    small.add_token_to_namespace("a", "token_characters")
    assert indexer.tokens_to_indices(tokens, small)["token_characters"] == [[2, 3, unknown]]


def test_the_cache_is_not_pickled():
    indexer = CachedTokenCharactersIndexer(min_padding_length=2)
    empty_size = len(pickle.dumps(indexer))
    vocab = vocabulary("cat")
    indexer.tokens_to_indices([Token(word) for word in WORDS], vocab)
    assert len(indexer._cache) == 6 and len(pickle.dumps(indexer)) == empty_size
    restored = pickle.loads(pickle.dumps(indexer))
    assert restored._min_padding_length == 2 and restored._cache == {}
    assert restored.tokens_to_indices([Token("cat")], vocab) == indexer.tokens_to_indices(
        [Token("cat")], vocab
    )


def test_a_full_cache_starts_again(monkeypatch):
    monkeypatch.setattr(cached_characters, "MAX_CACHED_WORDS", 3)
    indexer, reference = CachedTokenCharactersIndexer(), TokenCharactersIndexer()
    vocab = vocabulary("Thecatsonm")
    tokens = [Token(word) for word in WORDS]
    assert indexer.tokens_to_indices(tokens, vocab) == reference.tokens_to_indices(tokens, vocab)
    assert 1 <= len(indexer._cache) <= 3


def test_a_token_keeps_at_most_max_characters_per_token_in_indices_and_vocabulary():
    indexer = CachedTokenCharactersIndexer(min_padding_length=3)
    long_word = "ab" * 50_000
    counter = defaultdict(lambda: defaultdict(int))
    indexer.count_vocab_items(Token(long_word), counter)
    assert counter["token_characters"] == {"a": 32, "b": 32}
    vocab = vocabulary("ab")
    indices = indexer.tokens_to_indices([Token("cat"), Token(long_word)], vocab)
    assert indices["token_characters"][1] == [2, 3] * 32
    lengths = indexer.get_padding_lengths(indices)
    tensor = indexer.as_padded_tensor_dict(indices, lengths)["token_characters"]
    assert tensor.shape == (2, 64)
    short = CachedTokenCharactersIndexer(min_padding_length=3, max_characters_per_token=5)
    assert short.tokens_to_indices([Token(long_word)], vocab)["token_characters"] == [
        [2, 3, 2, 3, 2]
    ]


def test_max_characters_per_token_below_1_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="max_characters_per_token must be at least 1"):
        CachedTokenCharactersIndexer(max_characters_per_token=0)


ELMO_WORDS = ["The", "cat", "<S>", "</S>", "@@MASK@@", "naïve", "x" * 60, "The", "cat", "The"]


@pytest.mark.parametrize("kwargs", [{}, {"tokens_to_add": {"@@MASK@@": 5}}])
def test_cached_elmo_characters_give_allennlps_indices_and_tensors(kwargs):
    cached, reference = CachedElmoCharactersIndexer(**kwargs), ELMoTokenCharactersIndexer(**kwargs)
    tokens = [Token(word) for word in ELMO_WORDS]
    for _ in range(2):  # filling the cache, then reading it
        indices = cached.tokens_to_indices(tokens, Vocabulary())
        expected = reference.tokens_to_indices(tokens, Vocabulary())
        assert indices == expected
        lengths = cached.get_padding_lengths(indices)
        assert lengths == reference.get_padding_lengths(expected)
        padded = cached.as_padded_tensor_dict(indices, {"elmo_tokens": 12})
        assert torch.equal(
            padded["elmo_tokens"],
            reference.as_padded_tensor_dict(expected, {"elmo_tokens": 12})["elmo_tokens"],
        )
    # A word's occurrences share one list; distinct words have their own.
    assert indices["elmo_tokens"][0] is indices["elmo_tokens"][7] is indices["elmo_tokens"][9]
    assert len(cached._cache) == 7 and len({id(ids) for ids in indices["elmo_tokens"]}) == 7


def test_cached_elmo_characters_collate_as_allennlps():
    sentences = [["The", "cat", "sat"], ["The", "naïve", "cat", "sat", "on", "x" * 60], ["."]]
    tensors = {}
    indexers = {"cached": CachedElmoCharactersIndexer(), "plain": ELMoTokenCharactersIndexer()}
    for name, indexer in indexers.items():
        instances = [
            Instance({"tokens": TextField([Token(word) for word in words], {"lm": indexer})})
            for words in sentences
        ]
        for instance in instances:
            instance.index_fields(Vocabulary())
        vectorized = VectorizedDataCollator()(instances)["tokens"]["lm"]["elmo_tokens"]
        assert torch.equal(vectorized, allennlp_collate(instances)["tokens"]["lm"]["elmo_tokens"])
        tensors[name] = vectorized
    assert torch.equal(tensors["cached"], tensors["plain"])
    assert tensors["cached"].shape == (3, 6, 50)


def test_the_elmo_cache_is_not_pickled_and_a_full_cache_starts_again(monkeypatch):
    indexer = CachedElmoCharactersIndexer(tokens_to_add={"<mask>": 3})
    empty_size = len(pickle.dumps(indexer))
    indexer.tokens_to_indices([Token(word) for word in WORDS], Vocabulary())
    assert len(indexer._cache) == 6 and len(pickle.dumps(indexer)) == empty_size
    restored = pickle.loads(pickle.dumps(indexer))
    assert restored._cache == {} and restored._mapper.tokens_to_add == {"<mask>": 3}
    monkeypatch.setattr(cached_characters, "MAX_CACHED_ELMO_WORDS", 2)
    indexer.tokens_to_indices([Token("dog")], Vocabulary())
    assert list(indexer._cache) == ["dog"]


def test_with_cached_elmo_characters_replaces_only_allennlps_elmo_indexer():
    subclass = type("OwnElmo", (ELMoTokenCharactersIndexer,), {})()
    characters = TokenCharactersIndexer(min_padding_length=3)
    plain = ELMoTokenCharactersIndexer(
        namespace="lm_chars", tokens_to_add={"<mask>": 3}, token_min_padding_length=4
    )
    replaced = with_cached_elmo_characters({"chars": characters, "lm": plain, "own": subclass})
    assert replaced["chars"] is characters and replaced["own"] is subclass
    lm = replaced["lm"]
    assert type(lm) is CachedElmoCharactersIndexer
    assert (lm._namespace, lm._token_min_padding_length) == ("lm_chars", 4)
    assert lm._mapper == plain._mapper
