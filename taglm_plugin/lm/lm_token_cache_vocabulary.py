from typing import Any, Dict

import numpy
from allennlp.data import DatasetReader, Vocabulary

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.lm.lm_text import END_OF_SENTENCE, LmTextReader
from taglm_plugin.lm.lm_token_cache import LmTokenCache


@Vocabulary.register("taglm_lm_token_cache", constructor="from_lm_token_cache")
class LmTokenCacheVocabulary(ChecksConfigKeys, Vocabulary):
    """
    The LM's vocabulary counted from the token cache of its training text (`taglm_lm_cache`,
    which builds the cache before allennlp builds the vocabulary) with numpy: the vocabulary
    that allennlp's `from_instances` builds from that loader's instances (the same counts, and
    words of equal count in the same order, that of their first occurrence), without an
    `Instance` per sentence and a Python step per token (53 s for the 38M tokens of
    docs/results/study_2026-12-03).

    `data_path`, `dataset_reader` and `cache_directory` are the training loader's
    (`train_data_path`, `dataset_reader`, `data_loader.cache_directory`); the other keys are
    `from_instances`'. Archived, it is saved and loaded as files like any allennlp vocabulary.
    """

    @classmethod
    def from_lm_token_cache(
        cls,
        data_path: str,
        dataset_reader: DatasetReader,
        cache_directory: str,
        **kwargs: Any,
    ) -> "LmTokenCacheVocabulary":
        if not isinstance(dataset_reader, LmTextReader):
            raise ValueError(
                "vocabulary.dataset_reader must be a taglm_lm_text reader, got "
                f"{type(dataset_reader).__name__}"
            )
        cache = LmTokenCache.load_or_build(dataset_reader, data_path, cache_directory)
        sentences, _ = cache.selected_sentences(dataset_reader)
        ((namespace, _),) = dataset_reader.target_indexers.items()
        counts = _target_counts(cache, sentences, dataset_reader.direction == "backward")
        return cls(counter={namespace: counts}, **kwargs)


def _target_counts(
    cache: LmTokenCache, sentences: numpy.ndarray, reversed_sentences: bool
) -> Dict[str, int]:
    """`{word: count}` of the targets of `sentences` (their tokens in reading order, then
    `</S>`), in the order of first occurrence."""
    lengths = cache.sentence_lengths()[sentences]
    starts = cache.sentence_starts[sentences]
    # Target position k of every sentence, sentence after sentence, `</S>` after its tokens.
    sentence_offsets = numpy.cumsum(lengths) - lengths
    within = numpy.arange(int(lengths.sum())) - numpy.repeat(sentence_offsets, lengths)
    if reversed_sentences:
        token_positions = numpy.repeat(starts + lengths - 1, lengths) - within
    else:
        token_positions = numpy.repeat(starts, lengths) + within
    end_of_sentence = len(cache.types)
    targets = cache.token_types[token_positions].astype(numpy.int64)
    # Where each target stands in the sequence that `from_instances` counts.
    order = numpy.repeat(numpy.arange(len(sentences)), lengths) + numpy.arange(len(targets))
    end_order = numpy.cumsum(lengths) + numpy.arange(len(sentences))
    sequence = numpy.empty(len(targets) + len(sentences), dtype=numpy.int64)
    sequence[order] = targets
    sequence[end_order] = end_of_sentence
    counts = numpy.bincount(sequence, minlength=end_of_sentence + 1)
    first = numpy.full(end_of_sentence + 1, len(sequence), dtype=numpy.int64)
    numpy.minimum.at(first, sequence, numpy.arange(len(sequence)))
    occurring = numpy.flatnonzero(counts)
    words = cache.types + [END_OF_SENTENCE]
    return {words[i]: int(counts[i]) for i in occurring[numpy.argsort(first[occurring])]}
