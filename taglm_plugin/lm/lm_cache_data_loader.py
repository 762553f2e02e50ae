import logging
import math
import queue
import threading
import weakref
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import numpy
import torch
import torch.distributed as dist
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import is_distributed
from allennlp.data import Instance, Token, Vocabulary
from allennlp.data.data_loaders.data_loader import DataLoader, TensorDict
from allennlp.data.dataset_readers import DatasetReader
from allennlp.data.token_indexers import ELMoTokenCharactersIndexer
from allennlp.nn.util import move_to_device

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.lm.lm_text import END_OF_SENTENCE, LmTextReader
from taglm_plugin.lm.lm_token_cache import LmTokenCache

logger = logging.getLogger(__name__)


@DataLoader.register("taglm_lm_cache")
class LmCacheDataLoader(ChecksConfigKeys, DataLoader):
    """
    Batches of a `taglm_lm_text` reader's sentences for `taglm_language_model` without
    per-token Python work per epoch: the text is tokenized once into an `LmTokenCache` file in
    `cache_directory` (reused by every later run, the validation loader and both directions),
    and each batch is built by numpy indexing.

    The sentences, their order within the input, the held-out `split`, `max_sentence_length`
    and `direction` are the reader's, so the batches hold exactly what `taglm_lm_text` +
    allennlp's loader would give: the same targets and the same character ids. The reader's
    `token_indexers` must be one `elmo_characters` indexer.

    A batch (a `TensorDict` for `LanguageModel.forward`, on the target device):

    * `tokens`: `{key: {"elmo_tokens": (1, num_type_rows, 50)}}`, the character ids of the
      batch's distinct token types, row 0 all zeros (padding); `key` is the reader's indexer key.
      `num_type_rows` is the number of distinct types plus 1, rounded up to a multiple of
      `pad_types_to_multiple` with more all-zero rows that no token refers to: batches then
      repeat a few shapes, so that cuDNN reuses its convolution plans for the character CNN
      (a new shape costs milliseconds of host time per convolution, forward and backward);
    * `token_types`: `(batch_size, num_tokens)`, each token's row in `tokens` (0 = padding);
      the model embeds each distinct type once and gathers;
    * `targets`: `{target_namespace: {"tokens": (batch_size, num_tokens + 1)}}`, the target
      ids (0 = padding), the tokens then `</S>`.

    Order: each epoch (with `shuffle`) permutes the sentences, sorts pools of
    `sorting_pool_batches * batch_size` consecutive ones by length (less padding), cuts them
    into batches and shuffles the batches. Without `shuffle` (validation) the pools are taken
    in input order. Randomness comes from numpy's global generator (`numpy_seed`).

    `iter_instances()` gives the split's sentences as the reader's `Instance`s (for building
    the vocabulary); it is the only per-token Python work left, once per run.

    With `prefetch_batches`, a background thread builds the next batches while the training
    process runs the current step (numpy and torch release the GIL for most of their work), so
    that building a batch does not leave the GPU idle between steps; the batches and their
    order are the same (the order is drawn before the thread starts).

    Distributed training: every worker computes the same batches of the whole pass (the
    workers share numpy's seed) and takes every `world_size`-th one, starting at its rank, so
    the workers train on disjoint shares of the sentences that together hold each one once per
    pass. The batches of a pass are first made a multiple of `world_size` by halving the
    largest ones (`_split_for_workers`): allennlp's trainer ends a distributed epoch when the
    first worker runs out of batches, so unequal shares would leave sentences out. `len()` and
    `batches_per_epoch` count one worker's batches.

    Registered as a `DataLoader` with name "taglm_lm_cache".

    # Parameters

    data_path : `str`
        Given by allennlp (`train_data_path` / `validation_data_path`): local file(s) or a glob.
    reader : `DatasetReader`
        Given by allennlp; must be a `taglm_lm_text` reader.
    batch_size : `int`
        Sentences per batch.
    cache_directory : `str`
        Where the token cache files are.
    shuffle : `bool`, optional (default = `True`)
    sorting_pool_batches : `int`, optional (default = `20`)
        Batches' worth of sentences sorted by length together (1: no sorting).
    batches_per_epoch : `int`, optional (default = `None`)
        If set, an epoch is this many batches, continuing through the data (and into the next
        pass) across epochs; else one pass.
    pad_types_to_multiple : `int`, optional (default = `1`)
        The rows of `tokens` (distinct types + padding) are rounded up to a multiple of this
        (1: no extra rows). The model's output does not change; the character CNN runs on the
        extra rows.
    tokenizing_processes : `int`, optional (default = `1`)
        Processes that tokenize the text when the cache is built (0: one per CPU core); the
        cache does not depend on it.
    prefetch_batches : `int`, optional (default = `0`)
        Batches built ahead by a background thread and waiting (one more is being built; 0:
        each batch is built when it is asked for, in the calling thread). They are moved to
        the target device when asked for.
    """

    def __init__(
        self,
        data_path: str,
        reader: DatasetReader,
        batch_size: int,
        cache_directory: str,
        shuffle: bool = True,
        sorting_pool_batches: int = 20,
        batches_per_epoch: Optional[int] = None,
        pad_types_to_multiple: int = 1,
        tokenizing_processes: int = 1,
        prefetch_batches: int = 0,
    ) -> None:
        if not isinstance(reader, LmTextReader):
            raise ConfigurationError(
                f"data_loader.type = taglm_lm_cache needs a taglm_lm_text dataset_reader, "
                f"got {type(reader).__name__}"
            )
        indexers = list(reader.token_indexers.items())
        if len(indexers) != 1 or not isinstance(indexers[0][1], ELMoTokenCharactersIndexer):
            raise ConfigurationError(
                "data_loader.type = taglm_lm_cache needs dataset_reader.token_indexers to be one "
                f"elmo_characters indexer, got {reader.token_indexers}"
            )
        for key, value in (
            ("batch_size", batch_size),
            ("sorting_pool_batches", sorting_pool_batches),
            ("batches_per_epoch", batches_per_epoch),
            ("pad_types_to_multiple", pad_types_to_multiple),
        ):
            if value is not None and value < 1:
                raise ConfigurationError(f"data_loader.{key} must be at least 1, got {value}")
        if tokenizing_processes < 0:
            raise ConfigurationError(
                "data_loader.tokenizing_processes must be at least 0 (0: one per CPU core), "
                f"got {tokenizing_processes}"
            )
        if prefetch_batches < 0:
            raise ConfigurationError(
                f"data_loader.prefetch_batches must be at least 0, got {prefetch_batches}"
            )
        self.reader = reader
        self._indexer_key, self._indexer = indexers[0]
        ((self._target_namespace, self._target_indexer),) = reader.target_indexers.items()
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._pool_size = sorting_pool_batches * batch_size
        self.batches_per_epoch = batches_per_epoch
        self._pad_types_to_multiple = pad_types_to_multiple
        self._prefetch_batches = prefetch_batches
        self._device: Optional[torch.device] = None
        self._vocab: Optional[Vocabulary] = None

        self._cache = LmTokenCache.load_or_build(
            reader, data_path, cache_directory, tokenizing_processes
        )
        lengths = self._cache.sentence_lengths()
        self._sentences, in_split = self._cache.selected_sentences(reader)
        if in_split > len(self._sentences):
            logger.info(
                "Skipped %d of %d sentences of %s longer than max_sentence_length = %d",
                in_split - len(self._sentences),
                in_split,
                data_path,
                reader.max_sentence_length,
            )
        if len(self._sentences) == 0:
            raise ConfigurationError(reader.nothing_selected_message(data_path))
        self._lengths = lengths[self._sentences]
        self._starts = self._cache.sentence_starts[self._sentences]
        # Character ids of every type, row 0 for padding: (1 + num_types, 50), by the reader's
        # own indexer (no vocabulary).
        characters = self._indexer.tokens_to_indices(
            [Token(token) for token in self._cache.types], Vocabulary()
        )["elmo_tokens"]
        self._type_characters = numpy.zeros((1 + len(characters), 50), dtype=numpy.int64)
        self._type_characters[1:] = characters
        self._type_targets: Optional[numpy.ndarray] = None
        self._end_of_sentence_target = 0
        self._batches: Optional[Iterator[TensorDict]] = None

    @property
    def num_tokens(self) -> int:
        """Tokens of the selected sentences (targets: one more per sentence)."""
        return int(self._lengths.sum())

    def __len__(self) -> int:
        if self.batches_per_epoch is not None:
            return self.batches_per_epoch
        # Pools hold whole batches but the last, so a pass has this many batches.
        num_batches = math.ceil(len(self._sentences) / self.batch_size)
        return math.ceil(num_batches / _world_size())

    def __iter__(self) -> Iterator[TensorDict]:
        if self._type_targets is None:
            raise ValueError(
                "taglm_lm_cache: call index_with(vocab) before iterating (allennlp's train does)"
            )
        if self.batches_per_epoch is None:
            yield from self._epoch()
            return
        for _ in range(self.batches_per_epoch):
            batch = next(self._batches, None) if self._batches is not None else None
            if batch is None:
                self._batches = self._epoch()
                batch = next(self._batches)
            yield batch

    def restart(self) -> None:
        """
        Drops the rest of a pass that `batches_per_epoch` cut short: the next iteration starts
        a new pass over the sentences (in a new order when shuffling).
        """
        self._batches = None

    def iter_instances(self) -> Iterator[Instance]:
        for index in self._sentences:
            instance = self.reader.text_to_instance(self._cache.sentence(index))
            self.reader.apply_token_indexers(instance)
            if self._vocab is not None:
                instance.index_fields(self._vocab)
            yield instance

    def index_with(self, vocab: Vocabulary) -> None:
        self._vocab = vocab
        # Target ids by the reader's own target indexer: type i + 1 -> row i + 1 (0: padding).
        targets = self._target_indexer.tokens_to_indices(
            [Token(token) for token in self._cache.types + [END_OF_SENTENCE]], vocab
        )["tokens"]
        self._type_targets = numpy.zeros(len(targets), dtype=numpy.int64)
        self._type_targets[1:] = targets[:-1]
        self._end_of_sentence_target = targets[-1]

    def set_target_device(self, device: torch.device) -> None:
        self._device = device

    def _epoch(self) -> Iterator[TensorDict]:
        """One pass over the selected sentences, in batches."""
        batches = self._epoch_batches()
        if self._prefetch_batches:
            # A weak reference: the thread does not keep the loader (and so itself) alive.
            tensorize = weakref.WeakMethod(self.tensorize)
            tensors = _prefetched(tensorize, batches, self._prefetch_batches)
        else:
            tensors = map(self.tensorize, batches)
        for batch in tensors:
            yield move_to_device(batch, self._device) if self._device is not None else batch

    def _epoch_batches(self) -> List[numpy.ndarray]:
        """The batches of one pass (indices into the selected sentences), in their order."""
        if self.shuffle:
            order = numpy.random.permutation(len(self._sentences))
        else:
            order = numpy.arange(len(self._sentences))
        batches: List[numpy.ndarray] = []
        for start in range(0, len(order), self._pool_size):
            pool = order[start : start + self._pool_size]
            pool = pool[numpy.argsort(self._lengths[pool], kind="stable")]
            batches.extend(
                pool[index : index + self.batch_size]
                for index in range(0, len(pool), self.batch_size)
            )
        if self.shuffle:
            batches = [batches[index] for index in numpy.random.permutation(len(batches))]
        world_size = _world_size()
        if world_size > 1:
            batches = _split_for_workers(batches, world_size)[dist.get_rank() :: world_size]
        return batches

    def tensorize(self, batch: numpy.ndarray) -> TensorDict:
        """
        The `TensorDict` of the selected sentences `batch` (indices into them), on the CPU.
        """
        assert self._type_targets is not None
        lengths = self._lengths[batch]
        num_tokens = int(lengths.max())
        positions = numpy.arange(num_tokens)
        real = positions < lengths[:, None]
        if self.reader.direction == "backward":
            offsets = lengths[:, None] - 1 - positions
        else:
            offsets = numpy.broadcast_to(positions, real.shape)
        # Cache types + 1 (0: padding) in the LM's reading order: (batch_size, num_tokens).
        types = numpy.zeros(real.shape, dtype=numpy.int64)
        types[real] = self._cache.token_types[(self._starts[batch][:, None] + offsets)[real]] + 1
        batch_types, token_types = numpy.unique(types, return_inverse=True)
        token_types = token_types.reshape(types.shape)
        if batch_types[0] != 0:  # no padding in this batch: row 0 is still padding
            batch_types = numpy.concatenate([[0], batch_types])
            token_types += 1
        multiple = self._pad_types_to_multiple
        num_rows = -(-len(batch_types) // multiple) * multiple
        # Extra rows: the padding type (all-zero character ids), referred to by no token.
        batch_types = numpy.pad(batch_types, (0, num_rows - len(batch_types)))
        targets = numpy.zeros((len(batch), num_tokens + 1), dtype=numpy.int64)
        targets[:, :num_tokens] = self._type_targets[types]
        targets[numpy.arange(len(batch)), lengths] = self._end_of_sentence_target
        return {
            "tokens": {
                self._indexer_key: {
                    "elmo_tokens": torch.from_numpy(self._type_characters[batch_types][None])
                }
            },
            "token_types": torch.from_numpy(token_types),
            "targets": {self._target_namespace: {"tokens": torch.from_numpy(targets)}},
        }


def _world_size() -> int:
    """The number of workers of distributed training, 1 without it."""
    return dist.get_world_size() if is_distributed() else 1


def _split_for_workers(batches: List[numpy.ndarray], world_size: int) -> List[numpy.ndarray]:
    """
    `batches` with the largest batch (the first of them) cut into two halves, in its place,
    until their number is a multiple of `world_size`, so that every worker gets as many.
    """
    batches = list(batches)
    while len(batches) % world_size:
        largest = max(range(len(batches)), key=lambda index: len(batches[index]))
        if len(batches[largest]) < 2:
            raise ConfigurationError(
                f"taglm_lm_cache: {len(batches)} batches of one sentence cannot be shared "
                f"equally by {world_size} workers"
            )
        batches[largest : largest + 1] = numpy.array_split(batches[largest], 2)
    return batches


_DONE = object()


def _prefetched(
    function: "weakref.WeakMethod[Callable[[numpy.ndarray], TensorDict]]",
    items: Iterable[numpy.ndarray],
    depth: int,
) -> Iterator[TensorDict]:
    """
    `map(function(), items)`, computed ahead by a background thread (up to `depth` results
    waiting, one more being computed), which ends when the method's object is gone. An
    exception of the method is raised here, in its place; closing the iterator (or dropping
    it) stops the thread and waits for it (at most the item it is computing).
    """
    results: "queue.Queue[Tuple[object, Optional[BaseException]]]" = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(result: object, error: Optional[BaseException] = None) -> bool:
        while not stop.is_set():
            try:
                results.put((result, error), timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for item in items:
                method = function()
                if method is None:
                    break
                result = method(item)
                del method  # the object may be gone at the next item
                if not put(result):
                    return
        except BaseException as error:  # raised in the consumer
            put(None, error)
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="taglm_lm_cache prefetch", daemon=True)
    thread.start()
    try:
        while True:
            result, error = results.get()
            if error is not None:
                raise error
            if result is _DONE:
                return
            yield result  # type: ignore[misc]
    finally:
        stop.set()
        # Dropping the last reference to the object in the thread closes this iterator there.
        if thread is not threading.current_thread():
            thread.join()
