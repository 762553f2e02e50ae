"""
Batching `Instance`s into the tensors of allennlp's default collation, with numpy instead of
per-instance Python padding.
"""
from collections import OrderedDict
from itertools import chain
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import torch
from allennlp.common.util import sanitize
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

from taglm_plugin.common.config_keys import ChecksConfigKeys

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


def _convert(rows: Sequence[list], depth: int) -> numpy.ndarray:
    """
    `rows` (one list of ints, or one list of lists of ints, per instance) as one zero-padded
    int64 array of shape `(len(rows), num_items)` for `depth` 1 or `(len(rows), num_items,
    num_subitems)` for `depth` 2, each size the longest in `rows`.
    """
    row_lengths = numpy.fromiter(map(len, rows), numpy.int64, len(rows))
    row_index = numpy.repeat(numpy.arange(len(rows)), row_lengths)
    item_index = numpy.arange(len(row_index)) - numpy.repeat(
        numpy.cumsum(row_lengths) - row_lengths, row_lengths
    )
    shape = [len(rows), row_lengths.max(initial=0)]
    items = list(chain.from_iterable(rows))
    if depth == 1:
        index, values = (row_index, item_index), items
    else:
        item_lengths = numpy.fromiter(map(len, items), numpy.int64, len(items))
        shape.append(item_lengths.max(initial=0))
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
    return padded


# The default bound of a `VectorizedDataCollator`'s cache of converted index lists, in bytes of
# their arrays: about 1.3x the arrays of the CoNLL-2003 training and validation sentences with
# the TagLM configs' three indexers (estimated at 100 MB, most of it `elmo_characters`' 50
# int64s per token).
ROW_CACHE_MAX_BYTES = 128 * 2**20


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

    def to_json(self) -> List[Any]:
        """
        The metadata as JSON-like values, one per instance: what `allennlp.common.util.sanitize`
        calls (`allennlp evaluate --predictions-output-file` sanitizes every batch).
        """
        return sanitize(self._items)


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
class VectorizedDataCollator(ChecksConfigKeys, DataCollator):
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
      the trainer's `move_to_device` passes over in one step (and `sanitize` turns into the
      list).

    Other fields and other indexers are batched as allennlp does it. On CoNLL-2003 this
    collation is about 10x faster than the default (benchmarks/collation_speed.py), which
    otherwise takes most of the host's time in a GPU training epoch. Used by the tagger
    configs' data loaders (`collate_fn`) and by `TagLmTagger.forward_on_instances`.

    Each index list of an instance (the list of one key of one indexer, or of a
    `SequenceLabelField`'s labels) is converted to a numpy array once and kept in a
    least-recently-used cache, so that the batches of later epochs, which collate the same
    instances again, are copied from these arrays instead of being rebuilt from Python lists
    (benchmarks/collation_speed.py). The cache holds at most `max_cache_bytes` of arrays, each
    of shape `(num_items,)` or `(num_items, longest num_subitems of the list)`: views of the
    array they were converted in, one per batch (a batch of instances not seen before is
    converted as one array, copied as its tensor, so the first epoch pays little for the
    cache; the bound counts the views' bytes, not the padding between them). Indexed
    instances are taken as immutable, as allennlp leaves them: a cached list that has changed
    length since is converted again, but one whose values were changed in place is not
    noticed.

    Registered as a `DataCollator` with name "taglm_vectorized".

    # Parameters

    max_cache_bytes : `int`, optional (default = `ROW_CACHE_MAX_BYTES`)
        The bound of the cache of converted index lists, in bytes of their arrays; 0 turns the
        cache off.
    """

    def __init__(self, max_cache_bytes: int = ROW_CACHE_MAX_BYTES) -> None:
        self._max_cache_bytes = max_cache_bytes
        # `id(row)` -> `(row, array)`: keeping the list alive keeps its id from being reused.
        self._cache: "OrderedDict[int, Tuple[list, numpy.ndarray]]" = OrderedDict()
        self._cache_bytes = 0

    def __call__(self, instances: List[Instance]) -> TensorDict:
        tensors: TensorDict = {}
        for name, first in instances[0].fields.items():
            fields = [instance.fields[name] for instance in instances]
            if type(first) is TextField:
                tensors[name] = self._batch_text_fields(fields)
            elif isinstance(first, SequenceLabelField):
                labels = [field._indexed_labels for field in fields]
                tensors[name] = self._pad(labels, 1, (0, 0))
            elif type(first) is MetadataField:
                tensors[name] = BatchMetadata([field.metadata for field in fields])
            else:
                tensors[name] = _batch_by_field_methods(fields)
        return tensors

    def _pad(
        self, rows: Sequence[list], depth: int, minimum_lengths: Tuple[int, int]
    ) -> torch.Tensor:
        """
        `rows` (one list of ints, or one list of lists of ints, per instance) as one zero-padded
        `LongTensor` of shape `(len(rows), num_items)` for `depth` 1 or `(len(rows), num_items,
        num_subitems)` for `depth` 2, each size the longest in `rows` but at least the matching
        entry of `minimum_lengths`.
        """
        arrays, converted = self._row_arrays(rows, depth)
        if converted is not None:  # no row was cached: `converted` is the batch
            shortfall = numpy.maximum(
                numpy.subtract(minimum_lengths[:depth], converted.shape[1:]), 0
            )
            # A copy either way: the cache keeps views of `converted`, which a consumer
            # changing its tensor in place must not reach.
            padded = numpy.pad(converted, [(0, 0)] + [(0, short) for short in shortfall])
            return torch.from_numpy(padded)
        longest = numpy.array([array.shape for array in arrays]).max(axis=0)
        padded = numpy.zeros(
            (len(rows), *numpy.maximum(longest, minimum_lengths[:depth])), dtype=numpy.int64
        )
        for index, array in enumerate(arrays):
            padded[(index, *map(slice, array.shape))] = array
        return torch.from_numpy(padded)

    def _row_arrays(
        self, rows: Sequence[list], depth: int
    ) -> Tuple[List[numpy.ndarray], Optional[numpy.ndarray]]:
        """
        Each of `rows` as an array of shape `(num_items,)` for `depth` 1 or `(num_items, longest
        num_subitems of the row)` for `depth` 2: from the cache, or converted together with the
        other rows that it lacks (a view of their `_convert` array) and then cached; and that
        array when no row was cached (then the batch's own), else `None`. Without a cache
        (`max_cache_bytes` 0) only that array.
        """
        if self._max_cache_bytes == 0:
            return [], _convert(rows, depth)
        arrays: List[Optional[numpy.ndarray]] = []
        missing = []
        for row in rows:
            cached = self._cache.get(id(row))
            if cached is not None and cached[0] is row and len(cached[1]) == len(row):
                self._cache.move_to_end(id(row))
                arrays.append(cached[1])
            else:
                missing.append(len(arrays))
                arrays.append(None)
        if not missing:
            return arrays, None
        converted = _convert([rows[index] for index in missing], depth)
        for array_of, index in zip(converted, missing):
            row = rows[index]
            width = () if depth == 1 else (max(map(len, row), default=0),)
            arrays[index] = array_of[(slice(len(row)), *map(slice, width))]
            self._store(row, arrays[index])
        return arrays, converted if len(missing) == len(rows) else None

    def _store(self, row: list, array: numpy.ndarray) -> None:
        """Caches `array` for `row`, dropping the least recently used arrays over the bound."""
        previous = self._cache.pop(id(row), None)
        if previous is not None:
            self._cache_bytes -= previous[1].nbytes
        if array.nbytes > self._max_cache_bytes:
            return
        self._cache[id(row)] = (row, array)
        self._cache_bytes += array.nbytes
        while self._cache_bytes > self._max_cache_bytes:
            self._cache_bytes -= self._cache.popitem(last=False)[1][1].nbytes

    def _batch_text_fields(self, fields: List[TextField]) -> Dict[str, Dict[str, torch.Tensor]]:
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
                key: self._pad(
                    [token_list[key] for token_list in indexed],
                    depth,
                    (minimums[key], subitem_minimum),
                )
                for key in indexed[0]
            }
        return tensors
