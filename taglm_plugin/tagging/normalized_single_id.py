import itertools
import re
from typing import Any, Dict, List, Optional

from allennlp.data.token_indexers.single_id_token_indexer import SingleIdTokenIndexer
from allennlp.data.token_indexers.token_indexer import IndexedTokenList, TokenIndexer
from allennlp.data.tokenizers import Token
from allennlp.data.vocabulary import Vocabulary

from taglm_plugin.common.config_keys import ChecksConfigKeys

_DIGIT = re.compile(r"\d")


@TokenIndexer.register("normalized_single_id")
class NormalizedSingleIdTokenIndexer(ChecksConfigKeys, SingleIdTokenIndexer):
    """
    A `SingleIdTokenIndexer` that normalizes the word before the vocabulary lookup, as the
    TagLM paper does for its word embeddings: lowercase (`lowercase_tokens`, default on) and
    every digit mapped to `0` (`digits_to_zero`, default on). Only the id lookup sees the
    normalized form; character indexers still see the original token.

    With `pretrained_namespace` (the `tagger_vocabulary`'s words of the pretrained vectors)
    each token also gets its id there, under the key `pretrained_tokens`: the lowercased word
    or, if that has no vector, its normalized form; the OOV id (1) if neither has one.

    Produces `{"tokens": LongTensor(batch_size, num_tokens)}` like its parent, plus
    `"pretrained_tokens": LongTensor(batch_size, num_tokens)` with `pretrained_namespace`.
    """

    def __init__(
        self,
        namespace: Optional[str] = "tokens",
        lowercase_tokens: bool = True,
        digits_to_zero: bool = True,
        pretrained_namespace: Optional[str] = None,
        **kwargs,
    ) -> None:
        super().__init__(namespace=namespace, lowercase_tokens=lowercase_tokens, **kwargs)
        self.digits_to_zero = digits_to_zero
        self.pretrained_namespace = pretrained_namespace

    def normalize(self, text: str) -> str:
        """The form of `text` that is looked up in the vocabulary."""
        if self.lowercase_tokens:
            text = text.lower()
        return _DIGIT.sub("0", text) if self.digits_to_zero else text

    def _get_feature_value(self, token: Token) -> str:
        return self.normalize(super()._get_feature_value(token))

    def tokens_to_indices(self, tokens: List[Token], vocabulary: Vocabulary) -> IndexedTokenList:
        indices = super().tokens_to_indices(tokens, vocabulary)
        if self.pretrained_namespace is not None:
            index = vocabulary.get_token_to_index_vocabulary(self.pretrained_namespace)
            oov = index.get(vocabulary._oov_token, 1)
            pretrained = []
            for token in itertools.chain(self._start_tokens, tokens, self._end_tokens):
                text = super()._get_feature_value(token).lower()
                found = index.get(text)
                if found is None:
                    found = index.get(self.normalize(text), oov)
                pretrained.append(found)
            indices["pretrained_tokens"] = pretrained
        return indices

    def get_empty_token_list(self) -> IndexedTokenList:
        empty = super().get_empty_token_list()
        if self.pretrained_namespace is not None:
            empty["pretrained_tokens"] = []
        return empty

    def _to_params(self) -> Dict[str, Any]:
        return {
            **super()._to_params(),
            "digits_to_zero": self.digits_to_zero,
            "pretrained_namespace": self.pretrained_namespace,
        }
