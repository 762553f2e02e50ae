"""
Batching `Instance`s into the tensors of allennlp's default collation, with numpy instead of
per-instance Python padding.
"""
from itertools import chain
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import torch
from allennlp.data import Instance
from allennlp.data.data_loaders.data_collator import DataCollator
from allennlp.data.data_loaders.data_loader import TensorDict
from allennlp.data.fields import Field, MetadataField, SequenceLabelField, TextField
from allennlp.data.token_indexers import (
    ELMoTokenCharactersIndexer,
    TokenCharactersIndexer,
    TokenIndexer,
)
from allennlp.nn.util import batch_tensor_dicts

# Indexers whose tensors are their index lists zero-padded at the end to the batch's longest
# and to the indexer's minimum lengths: `(depth, key of the minimum per-token length)`, depth 1
# for one list of ints per key (allennlp's default implementation, e.g. `single_id`), 2 for one
# list of ints per token (`characters`, `elmo_characters`). Methods are compared, so subclasses
# that change them are batched by their own methods.
_ZERO_PADDED_INDEXERS: Dict[type, Tuple[int, Optional[str]]] = {
    TokenIndexer: (1, None),
    TokenCharactersIndexer: (2, "num_token_characters"),
    ELMoTokenCharactersIndexer: (2, None),
}


def _zero_padded_implementation(indexer: TokenIndexer) -> Optional[type]:
    """The class in `_ZERO_PADDED_INDEXERS` whose padding `indexer` uses, if any."""
    for implementation in _ZERO_PADDED_INDEXERS:
        if (
            type(indexer).as_padded_tensor_dict is implementation.as_padded_tensor_dict
            and type(indexer).get_padding_lengths is implementation.get_padding_lengths
        ):
            return implementation
    return None


def _pad(rows: Sequence[list], depth: int, minimum_lengths: Tuple[int, int]) -> torch.Tensor:
    """
    `rows` (one list of ints, or one list of lists of ints, per instance) as one zero-padded
    `LongTensor` of shape `(len(rows), num_items)` for `depth` 1 or `(len(rows), num_items,
    num_subitems)` for `depth` 2, each size the longest in `rows` but at least the matching
    entry of `minimum_lengths`.
    """
    row_lengths = numpy.fromiter(map(len, rows), numpy.int64, len(rows))
    row_index = numpy.repeat(numpy.arange(len(rows)), row_lengths)
    item_index = numpy.arange(len(row_index)) - numpy.repeat(
        numpy.cumsum(row_lengths) - row_lengths, row_lengths
    )
    shape = [len(rows), max(row_lengths.max(initial=0), minimum_lengths[0])]
    items = list(chain.from_iterable(rows))
    if depth == 1:
        index, values = (row_index, item_index), items
    else:
        item_lengths = numpy.fromiter(map(len, items), numpy.int64, len(items))
        shape.append(max(item_lengths.max(initial=0), minimum_lengths[1]))
        if items and (item_lengths == shape[2]).all():  # e.g. `elmo_characters`: 50 per token
            index, values = (row_index, item_index), numpy.array(items, dtype=numpy.int64)
        else:
            flat_item = numpy.repeat(numpy.arange(len(items)), item_lengths)
            subitem_index = numpy.arange(len(flat_item)) - numpy.repeat(
                numpy.cumsum(item_lengths) - item_lengths, item_lengths
            )
            index = (row_index[flat_item], item_index[flat_item], subitem_index)
            values = list(chain.from_iterable(items))
    padded = numpy.zeros(shape, dtype=numpy.int64)
    padded[index] = values
    return torch.from_numpy(padded)


class BatchMetadata(Sequence):
    """
    The `MetadataField` values of a batch's instances, in order: a read-only sequence that
    `allennlp.nn.util.move_to_device` returns as it is. (It walks lists and dicts down to
    every string: 0.8 s of a CoNLL-2003 epoch for the words of the `metadata` field.)
    """

    def __init__(self, items: List[Any]) -> None:
        self._items = items

    def __getitem__(self, index):
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"BatchMetadata({self._items!r})"


def _longest(padding_lengths: Iterable[Dict[str, int]]) -> Dict[str, int]:
    """The largest of each padding length, as allennlp's `Batch` takes them."""
    longest: Dict[str, int] = {}
    for lengths in padding_lengths:
        for key, length in lengths.items():
            longest[key] = max(longest.get(key, 0), length)
    return longest


def _batch_by_field_methods(fields: List[Field]) -> torch.Tensor:
    """allennlp's batching of one field: pad each to the longest, then `batch_tensors`."""
    lengths = _longest(field.get_padding_lengths() for field in fields)
    return fields[0].batch_tensors([field.as_tensor(lengths) for field in fields])


@DataCollator.register("taglm_vectorized")
class VectorizedDataCollator(DataCollator):
    """
    Turns a list of indexed `Instance`s into the `TensorDict` of allennlp's default collation
    (`allennlp_collate`: the same keys, shapes, dtypes and values, see `MetadataField`s
    below), building the tensors of
    the common fields with numpy from their index lists in one pass per batch instead of
    padding every instance in Python:

    * `TextField`s with `single_id`-style (allennlp's default padding, including this
      package's `normalized_single_id`), `characters` and `elmo_characters` indexers:
      `(batch_size, num_tokens)` or `(batch_size, num_tokens, num_characters)` per key;
    * `SequenceLabelField`s: `(batch_size, num_tokens)`;
    * `MetadataField`s: their metadata as a `BatchMetadata` sequence instead of a list, which
      the trainer's `move_to_device` passes over in one step.

    Other fields and other indexers are batched as allennlp does it. On CoNLL-2003 this
    collation is about 10x faster than the default (tests/data/data_collators), which
    otherwise takes most of the host's time in a GPU training epoch. Used by the tagger
    configs' data loaders (`collate_fn`) and by `TagLmTagger.forward_on_instances`.

    Registered as a `DataCollator` with name "taglm_vectorized".
    """

    def __call__(self, instances: List[Instance]) -> TensorDict:
        tensors: TensorDict = {}
        for name, first in instances[0].fields.items():
            fields = [instance.fields[name] for instance in instances]
            if type(first) is TextField:
                tensors[name] = self._batch_text_fields(fields)
            elif type(first) is SequenceLabelField:
                tensors[name] = _pad([field._indexed_labels for field in fields], 1, (0, 0))
            elif type(first) is MetadataField:
                tensors[name] = BatchMetadata([field.metadata for field in fields])
            else:
                tensors[name] = _batch_by_field_methods(fields)
        return tensors

    @staticmethod
    def _batch_text_fields(fields: List[TextField]) -> Dict[str, Dict[str, torch.Tensor]]:
        """`{indexer_name: {key: tensor}}`, as `TextField.batch_tensors` gives it."""
        tensors = {}
        for indexer_name, indexer in fields[0].token_indexers.items():
            indexed = [field._indexed_tokens[indexer_name] for field in fields]
            implementation = _zero_padded_implementation(indexer)
            if implementation is None:
                lengths = _longest(indexer.get_padding_lengths(tokens) for tokens in indexed)
                tensors[indexer_name] = batch_tensor_dicts(
                    [indexer.as_padded_tensor_dict(token_list, lengths) for token_list in indexed]
                )
                continue
            depth, subitem_key = _ZERO_PADDED_INDEXERS[implementation]
            # An indexer's padding lengths for an empty list are its minimum lengths.
            minimums = indexer.get_padding_lengths(indexer.get_empty_token_list())
            subitem_minimum = minimums[subitem_key] if subitem_key else 0
            tensors[indexer_name] = {
                key: _pad(
                    [token_list[key] for token_list in indexed],
                    depth,
                    (minimums[key], subitem_minimum),
                )
                for key in indexed[0]
            }
        return tensors
