import weakref
from itertools import chain
from typing import Any, Dict, List

from allennlp.common.checks import ConfigurationError
from allennlp.data.token_indexers.token_characters_indexer import TokenCharactersIndexer
from allennlp.data.token_indexers.token_indexer import TokenIndexer
from allennlp.data.tokenizers import Token
from allennlp.data.vocabulary import Vocabulary

from taglm_plugin.common.config_keys import ChecksConfigKeys

# Distinct words kept at most; a full cache starts again (a predictor sees unbounded text).
MAX_CACHED_WORDS = 1_000_000


@TokenIndexer.register("cached_characters")
class CachedTokenCharactersIndexer(ChecksConfigKeys, TokenCharactersIndexer):
    """
    allennlp's `characters` indexer (same parameters, padding and tensors:
    `{"token_characters": LongTensor(batch_size, num_tokens, num_characters)}`) that looks up
    the character ids of each distinct word once per vocabulary instead of once per
    occurrence: indexing CoNLL-2003's 14,041 training sentences, which allennlp does during
    the first epoch, looked up 1.2M characters for 23,625 distinct words.

    The cache is dropped when the indexer sees another vocabulary, or the vocabulary's
    `namespace` grows (an extended vocabulary can give a new id to a character that was
    unknown), and is not pickled (data loader workers send instances, and with them their
    indexers). Words share their lists of ids, which nothing may change in place (allennlp's
    padding copies them).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
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
