from typing import Any, Dict

from allennlp.data.token_indexers.single_id_token_indexer import SingleIdTokenIndexer
from allennlp.data.token_indexers.token_indexer import TokenIndexer
from allennlp.data.tokenizers import Token

from taglm_plugin.common.config_keys import ChecksConfigKeys


def casing_class(word: str) -> str:
    """
    The casing class of `word`, tested in Reimers and Gurevych's (2017) order: `numeric`
    (only digits), `mainly_numeric` (more than half digits), `all_lower`, `all_upper`,
    `initial_upper` (the first character upper case), `contains_digit`, else `other`
    (punctuation, a lower-case start with upper case after it).
    """
    digits = sum(character.isdigit() for character in word)
    if word.isdigit():
        return "numeric"
    if digits / max(len(word), 1) > 0.5:
        return "mainly_numeric"
    if word.islower():
        return "all_lower"
    if word.isupper():
        return "all_upper"
    if word[:1].isupper():
        return "initial_upper"
    if digits:
        return "contains_digit"
    return "other"


@TokenIndexer.register("word_casing")
class WordCasingIndexer(ChecksConfigKeys, SingleIdTokenIndexer):
    """
    The casing of each word as one id (`casing_class`): what the lowercased word embeddings
    lose, as the casing feature of Collobert et al. (2011) and Reimers and Gurevych (2017). Its
    namespace (default `casing`) holds the classes of the training data; an `embedding`
    TokenEmbedder with `vocab_namespace` set to it embeds them.

    Produces `{"tokens": LongTensor(batch_size, num_tokens)}`, padding 0.
    """

    def __init__(self, namespace: str = "casing", token_min_padding_length: int = 0) -> None:
        super().__init__(namespace=namespace, token_min_padding_length=token_min_padding_length)

    def _get_feature_value(self, token: Token) -> str:
        return casing_class(super()._get_feature_value(token))

    def _to_params(self) -> Dict[str, Any]:
        return {
            "namespace": self.namespace,
            "token_min_padding_length": self._token_min_padding_length,
        }
