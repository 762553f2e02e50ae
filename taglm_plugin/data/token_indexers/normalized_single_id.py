import re
from typing import Any, Dict, Optional

from allennlp.data.token_indexers.single_id_token_indexer import SingleIdTokenIndexer
from allennlp.data.token_indexers.token_indexer import TokenIndexer
from allennlp.data.tokenizers import Token

_DIGIT = re.compile(r"\d")


@TokenIndexer.register("normalized_single_id")
class NormalizedSingleIdTokenIndexer(SingleIdTokenIndexer):
    """
    A `SingleIdTokenIndexer` that normalizes the word before the vocabulary lookup, as the
    TagLM paper does for its word embeddings: lowercase (`lowercase_tokens`, default on) and
    every digit mapped to `0` (`digits_to_zero`, default on). Only the id lookup sees the
    normalized form; character indexers still see the original token.

    Produces `{"tokens": LongTensor(batch_size, num_tokens)}` like its parent.
    """

    def __init__(
        self,
        namespace: Optional[str] = "tokens",
        lowercase_tokens: bool = True,
        digits_to_zero: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(namespace=namespace, lowercase_tokens=lowercase_tokens, **kwargs)
        self.digits_to_zero = digits_to_zero

    def normalize(self, text: str) -> str:
        """The form of `text` that is looked up in the vocabulary."""
        if self.lowercase_tokens:
            text = text.lower()
        return _DIGIT.sub("0", text) if self.digits_to_zero else text

    def _get_feature_value(self, token: Token) -> str:
        return self.normalize(super()._get_feature_value(token))

    def _to_params(self) -> Dict[str, Any]:
        return {**super()._to_params(), "digits_to_zero": self.digits_to_zero}
