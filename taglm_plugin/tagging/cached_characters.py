import weakref
from itertools import chain
from typing import Any, Dict, List

from allennlp.common.checks import ConfigurationError
from allennlp.data.token_indexers.elmo_indexer import ELMoTokenCharactersIndexer
from allennlp.data.token_indexers.token_characters_indexer import TokenCharactersIndexer
from allennlp.data.token_indexers.token_indexer import TokenIndexer
from allennlp.data.tokenizers import CharacterTokenizer, Token
from allennlp.data.vocabulary import Vocabulary

from taglm_plugin.common.config_keys import ChecksConfigKeys

# Distinct words kept at most; a full cache starts again (a predictor sees unbounded text).
MAX_CACHED_WORDS = 1_000_000
# Distinct words whose ELMo character ids `CachedElmoCharactersIndexer` keeps at most (each a
# list of 50 references to shared ints: about 0.5 KB, so about 100 MB when full).
MAX_CACHED_ELMO_WORDS = 200_000
# One int object per ELMo character id (0 to 261), which the cached lists share (allennlp's
# lists hold a new int for each id above 256: the padding, the word boundaries).
_ELMO_IDS = {index: index for index in range(262)}
# The default `max_characters_per_token`: above the longest token of CoNLL-2003 (61
# characters, a line of dashes) and of CoNLL-2000 (54).
MAX_CHARACTERS_PER_TOKEN = 64


class _TruncatingCharacterTokenizer:
    """The first `max_characters` characters of `tokenizer.tokenize(text)`."""

    def __init__(self, tokenizer: CharacterTokenizer, max_characters: int) -> None:
        self.tokenizer = tokenizer
        self.max_characters = max_characters

    def tokenize(self, text: str) -> List[Token]:
        return self.tokenizer.tokenize(text)[: self.max_characters]


@TokenIndexer.register("cached_characters")
class CachedTokenCharactersIndexer(ChecksConfigKeys, TokenCharactersIndexer):
    """
    allennlp's `characters` indexer (same parameters, padding and tensors:
    `{"token_characters": LongTensor(batch_size, num_tokens, num_characters)}`) that keeps at
    most `max_characters_per_token` characters of each token (default
    `MAX_CHARACTERS_PER_TOKEN`, 64), and looks up the character ids of each distinct word
    once per vocabulary instead of once per occurrence: indexing CoNLL-2003's 14,041 training
    sentences, which allennlp does during the first epoch, looked up 1.2M characters for
    23,625 distinct words.

    The cap holds wherever the reader's indexers do (training, evaluation, prediction):
    `num_characters` is at most `max(max_characters_per_token, min_padding_length)`, so one
    very long token (a URL, a line of dashes, a predictor's input) does not make the batch's
    character tensor `num_tokens x its length`. The vocabulary counts the kept characters
    only. A token keeps the first `max_characters_per_token` items of the
    `character_tokenizer`'s output (its characters, bytes with a byte encoding, and any start
    and end tokens of that tokenizer).

    The cache is dropped when the indexer sees another vocabulary, or the vocabulary's
    `namespace` grows (an extended vocabulary can give a new id to a character that was
    unknown), and is not pickled (data loader workers send instances, and with them their
    indexers). Words share their lists of ids, which nothing may change in place (allennlp's
    padding copies them).
    """

    def __init__(
        self,
        namespace: str = "token_characters",
        character_tokenizer: CharacterTokenizer = CharacterTokenizer(),
        start_tokens: List[str] = None,
        end_tokens: List[str] = None,
        min_padding_length: int = 0,
        token_min_padding_length: int = 0,
        max_characters_per_token: int = MAX_CHARACTERS_PER_TOKEN,
    ) -> None:
        if max_characters_per_token < 1:
            raise ConfigurationError(
                "token_indexers: cached_characters' max_characters_per_token must be at least "
                f"1, got {max_characters_per_token}"
            )
        super().__init__(
            namespace,
            _TruncatingCharacterTokenizer(character_tokenizer, max_characters_per_token),
            start_tokens,
            end_tokens,
            min_padding_length,
            token_min_padding_length,
        )
        self._forget()

    def _forget(self, vocabulary: Vocabulary = None) -> None:
        self._cache: Dict[str, List[int]] = {}
        self._vocabulary = None if vocabulary is None else weakref.ref(vocabulary)
        self._vocabulary_size = None if vocabulary is None else self._size(vocabulary)

    def _size(self, vocabulary: Vocabulary) -> int:
        return vocabulary.get_vocab_size(self._namespace)

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        for name in ("_cache", "_vocabulary", "_vocabulary_size"):
            del state[name]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._forget()

    def tokens_to_indices(
        self, tokens: List[Token], vocabulary: Vocabulary
    ) -> Dict[str, List[List[int]]]:
        if (
            self._vocabulary is None
            or self._vocabulary() is not vocabulary
            or self._vocabulary_size != self._size(vocabulary)
        ):
            self._forget(vocabulary)
        indices = []
        for token in chain(self._start_tokens, tokens, self._end_tokens):
            if token.text is None:
                raise ConfigurationError(
                    "TokenCharactersIndexer needs a tokenizer that retains text"
                )
            word_indices = self._cache.get(token.text)
            if word_indices is None:
                # allennlp's ids of [*start_tokens, token, *end_tokens]
                with_ends = super().tokens_to_indices([token], vocabulary)["token_characters"]
                word_indices = with_ends[len(self._start_tokens)]
                if len(self._cache) >= MAX_CACHED_WORDS:
                    self._cache.clear()
                self._cache[token.text] = word_indices
            indices.append(word_indices)
        return {"token_characters": indices}


@TokenIndexer.register("cached_elmo_characters")
class CachedElmoCharactersIndexer(ChecksConfigKeys, ELMoTokenCharactersIndexer):
    """
    allennlp's `elmo_characters` indexer (same parameters, indices, padding and tensors:
    `{"elmo_tokens": LongTensor(batch_size, num_tokens, 50)}`) that maps each distinct word to
    its 50 character ids once instead of once per occurrence: allennlp builds the list of a
    token in Python (about 4 us per token; with two other indexers, the frozen biLM's input
    took most of a TagLM predictor's indexing time), and the lists of a sentence's tokens are
    garbage the collector then has to walk.

    Occurrences of a word share its list, which nothing may change in place (allennlp's
    padding and `taglm_vectorized` copy them). At most `MAX_CACHED_ELMO_WORDS` words are kept
    (a full cache starts again); the cache is not pickled. The `taglm_tagger` predictor uses it
    in place of `elmo_characters` (`with_cached_elmo_characters`), so archives trained with
    either tag alike.

    Registered as a `TokenIndexer` with name "cached_elmo_characters".
    """

    def __init__(
        self,
        namespace: str = "elmo_characters",
        tokens_to_add: Dict[str, int] = None,
        token_min_padding_length: int = 0,
    ) -> None:
        super().__init__(namespace, tokens_to_add, token_min_padding_length)
        self._cache: Dict[str, List[int]] = {}

    @classmethod
    def like(cls, indexer: ELMoTokenCharactersIndexer) -> "CachedElmoCharactersIndexer":
        """A cached indexer with the parameters of `indexer`."""
        return cls(
            indexer._namespace, indexer._mapper.tokens_to_add, indexer._token_min_padding_length
        )

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        del state["_cache"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache = {}

    def tokens_to_indices(
        self, tokens: List[Token], vocabulary: Vocabulary
    ) -> Dict[str, List[List[int]]]:
        cache = self._cache
        indices = []
        for token in tokens:
            text = token.ensure_text()
            word_indices = cache.get(text)
            if word_indices is None:
                word_indices = [
                    _ELMO_IDS.get(index, index)
                    for index in self._mapper.convert_word_to_char_ids(text)
                ]
                if len(cache) >= MAX_CACHED_ELMO_WORDS:
                    cache.clear()
                cache[text] = word_indices
            indices.append(word_indices)
        return {"elmo_tokens": indices}


def with_cached_elmo_characters(indexers: Dict[str, TokenIndexer]) -> Dict[str, TokenIndexer]:
    """
    `indexers` with each allennlp `elmo_characters` indexer (of exactly that class) replaced by
    a `CachedElmoCharactersIndexer` of the same parameters, which indexes alike; the others as
    they are.
    """
    return {
        name: CachedElmoCharactersIndexer.like(indexer)
        if type(indexer) is ELMoTokenCharactersIndexer
        else indexer
        for name, indexer in indexers.items()
    }
