"""
Gold tags read from a file, which may hold tags the model never saw in training.
"""
import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Set, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data.fields import SequenceField, SequenceLabelField
from allennlp.data.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

# The id of a gold tag that the vocabulary's tag namespace does not hold.
UNSEEN_TAG_ID = -1

# (file, tag as written) pairs already warned about in this process.
_warned: Set[Tuple[str, str]] = set()


@dataclass(frozen=True)
class TagSource:
    """Where a sentence's tags were read: the file, each token's line and its tag as written."""

    path: str
    line_numbers: List[int]
    written_tags: List[str]


class GoldTagField(SequenceLabelField):
    """
    A `SequenceLabelField` of gold tags in which a tag absent from the vocabulary's tag
    namespace (a chunk type, or a tag of the output scheme such as `L-LST`, that the training
    data never had) gets the id `UNSEEN_TAG_ID` instead of stopping the indexing with a
    `KeyError`. `TagLmTagger` scores such a tag as conlleval does (its chunks are gold chunks
    the model missed, `ConllevalF1Measure`'s `unseen_gold_tags`) and counts it as `O` in the
    loss. The first tag of each kind in each file is logged as a warning that names the file,
    the line and the tag as written there (`source`).
    """

    def __init__(
        self,
        labels: List[str],
        sequence_field: SequenceField,
        label_namespace: str = "labels",
        source: Optional[TagSource] = None,
    ) -> None:
        super().__init__(labels, sequence_field, label_namespace)
        self._source = source

    def index(self, vocab: Vocabulary) -> None:
        if self._skip_indexing:
            return
        ids = vocab.get_token_to_index_vocabulary(self._label_namespace)
        self._indexed_labels = [ids.get(label, UNSEEN_TAG_ID) for label in self.labels]
        if UNSEEN_TAG_ID in self._indexed_labels:
            self._warn_unseen(ids)

    def _warn_unseen(self, ids: dict) -> None:
        for position, label in enumerate(self.labels):
            if label in ids:
                continue
            if self._source is None:
                where, written = "a sentence", label
            else:
                where = f"{self._source.path}, line {self._source.line_numbers[position]}"
                written = self._source.written_tags[position]
            key = (self._source.path if self._source else "", written)
            if key in _warned:
                continue
            _warned.add(key)
            logger.warning(
                "%s: the gold tag %r (%r in the model's tag scheme) is not one of the model's "
                "tags (namespace %r; the training data had none): its chunks count as gold "
                "chunks the model missed. Further %r tags of this file are not reported.",
                where,
                written,
                label,
                self._label_namespace,
                written,
            )


def unseen_gold_tags(
    tags: torch.LongTensor, metadata: Optional[List[Dict[str, Any]]], replacement: int
) -> Tuple[torch.LongTensor, Optional[List[Dict[int, str]]]]:
    """
    `tags` `(batch_size, num_tokens)` with the gold tags outside the vocabulary
    (`UNSEEN_TAG_ID`) replaced by the id `replacement`, and those tags by name, `{position:
    tag}` per sentence, from `metadata` (`None` when there are none).
    """
    unseen = tags == UNSEEN_TAG_ID
    if not unseen.any():
        return tags, None
    if metadata is None or any("tags" not in sentence for sentence in metadata):
        raise ConfigurationError(
            "the batch has gold tags outside the model's tag vocabulary, but its metadata "
            "does not name them (\"tags\"): read the data with the taglm_conll reader"
        )
    names: List[Dict[int, str]] = [{} for _ in metadata]
    for sentence, position in unseen.nonzero().tolist():
        names[sentence][position] = metadata[sentence]["tags"][position]
    return tags.masked_fill(unseen, replacement), names
