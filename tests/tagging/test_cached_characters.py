import pickle
from collections import defaultdict

import pytest
from allennlp.common.checks import ConfigurationError
from allennlp.data import Token, Vocabulary
from allennlp.data.token_indexers import TokenCharactersIndexer

from taglm_plugin.tagging import cached_characters
from taglm_plugin.tagging.cached_characters import CachedTokenCharactersIndexer

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
