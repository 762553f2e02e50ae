import logging
import os
from typing import Callable, Dict, List, Optional, Tuple

import lmdb
import numpy
import torch
from allennlp.common.checks import ConfigurationError

logger = logging.getLogger(__name__)

STORE_MAP_SIZE = 1 << 40
"""The size of the disk store's memory map (1 TiB of address space; the file only grows as
states are written)."""

_FINGERPRINT_KEY = b"lm_fingerprint"
"""The store's entry naming the LM its states belong to."""

_KEY_FORMAT_KEY = b"sentence_key_format"
"""The store's entry naming the format of its sentence keys, `KEY_FORMAT`."""

KEY_FORMAT = b"2: length and two 64-bit multilinear hashes per LM tensor"
"""The format of the sentence keys (`sentence_keys`), stored in a store's format entry. A
change of the keys must change it: a store without this entry or of another format is refused
(its keys would never be found)."""

_HASH_STREAM_STRIDE = 1 << 40
"""The distance between the indices of two hash streams' multipliers (`_hash_multipliers`): a
stream's multipliers are distinct from every other's for rows of up to 2^40 ids."""

_multipliers: Dict[Tuple[torch.device, int], torch.Tensor] = {}
"""The multipliers of the hashes by device and tensor position (`_hash_multipliers`)."""


_open_stores: Dict[str, lmdb.Environment] = {}


def _open_store(directory: str) -> lmdb.Environment:
    """
    The LMDB environment in `directory`, created if missing. LMDB opens an environment once
    per process, so the caches of one directory share it (reopened if the store was deleted).
    """
    path = os.path.realpath(directory)
    store = _open_stores.get(path)
    if store is None or not os.path.exists(os.path.join(path, "data.mdb")):
        if store is not None:
            store.close()
        store = _open_stores[path] = lmdb.open(path, map_size=STORE_MAP_SIZE)
    return store


def _splitmix64(indices: numpy.ndarray) -> numpy.ndarray:
    """
    SplitMix64's outputs number `indices` (uint64, any shape) of its generator seeded with 0:
    the pseudo-random multipliers of `sentence_keys`' hashes. numpy's uint64 arithmetic wraps
    and shifts logically, as SplitMix64's does.
    """
    mixed = (indices + numpy.uint64(1)) * numpy.uint64(0x9E3779B97F4A7C15)
    mixed = (mixed ^ (mixed >> numpy.uint64(30))) * numpy.uint64(0xBF58476D1CE4E5B9)
    mixed = (mixed ^ (mixed >> numpy.uint64(27))) * numpy.uint64(0x94D049BB133111EB)
    return mixed ^ (mixed >> numpy.uint64(31))


def _hash_multipliers(position: int, length: int, device: torch.device) -> torch.Tensor:
    """
    The multipliers `(2, length)` (int64, the bits of uint64) of the two hashes of the LM
    tensor at `position` (in the order of the tensors' names): hash `k` (0 or 1) of that tensor
    multiplies id `i` of a flattened row by `_splitmix64(stream * 2^40 + i)`, `stream = 2 *
    position + k`. They depend on nothing else, so keys are the same in every run and on every
    machine. Cached per device, extended (at least doubled) when a longer row comes.
    """
    multipliers = _multipliers.get((device, position))
    if multipliers is None or multipliers.shape[1] < length:
        capacity = max(length, 2 * multipliers.shape[1] if multipliers is not None else 4096)
        streams = numpy.arange(2 * position, 2 * position + 2, dtype=numpy.uint64)[:, None]
        indices = streams * numpy.uint64(_HASH_STREAM_STRIDE) + numpy.arange(
            capacity, dtype=numpy.uint64
        )
        multipliers = torch.from_numpy(_splitmix64(indices).view(numpy.int64)).to(device)
        _multipliers[(device, position)] = multipliers
    return multipliers[:, :length]


def sentence_keys(
    lm_tensors: Dict[str, torch.Tensor], mask: torch.BoolTensor
) -> Tuple[List[bytes], List[int]]:
    """
    The key and the length of each sentence of a batch, computed on `mask`'s device (a few
    kernels for the whole batch) and copied to the host in one small copy.

    Each LM tensor (in the order of the names) is cut to the sentence's real tokens (ids at
    padding count as 0) and flattened, `x` (`num_tokens * trailing dims` ids); its two hashes
    are `h_k = sum_i x[i] * R_k[i] mod 2^64` (int64 arithmetic wraps), with the pseudo-random
    multipliers `R_k` of `_hash_multipliers`, distinct per hash and tensor position. Trailing
    zeros add nothing, so a sentence's hashes do not depend on its batch's padding. The key is
    the bytes (little-endian int64) of `(length, h_1, h_2 of the first tensor, ...)`, 24 bytes
    for one tensor.

    Collisions: were the multipliers uniformly random, these hashes would be universal. Two
    different id sequences differ by `d = x - y`; at an index `j` where `d[j]` has the fewest
    factors 2 (at most `v = 8` for ids below 512, such as ELMo's character ids; 19 for word
    ids below 2^20), `d[j] * R_k[j]` is uniform over the multiples of `2^v`, and so are the
    other terms' sums, so `h_k(x) = h_k(y)` with probability `2^(v - 64)`, and both hashes
    collide with probability `2^(2v - 128)`: 2^-112 per pair of sentences (2^-90 for word
    ids), negligible for any number of sentences a cache holds. SplitMix64 stands in for
    random multipliers, which is sound for natural text but not cryptographic: anyone who
    knows the multipliers can build a collision.
    `KEY_FORMAT` names this format.

    # Parameters

    lm_tensors : `Dict[str, torch.Tensor]`
        The LM token indexer's integer tensors, each `(batch_size, num_tokens, ...)`.
    mask : `torch.BoolTensor`
        `(batch_size, num_tokens)`, true at real tokens, which precede the padding.

    # Returns

    The `batch_size` keys and the lengths (numbers of real tokens).
    """
    batch_size, num_tokens = mask.shape
    columns = [mask.sum(dim=1, keepdim=True)]
    for position, name in enumerate(sorted(lm_tensors)):
        tensor = lm_tensors[name]
        token_mask = mask.reshape(batch_size, num_tokens, *[1] * (tensor.dim() - 2))
        ids = (tensor.long() * token_mask).view(batch_size, 1, -1)
        multipliers = _hash_multipliers(position, ids.shape[2], mask.device)
        columns.append((ids * multipliers).sum(dim=2))
    keys = torch.cat(columns, dim=1).cpu().numpy().astype("<i8", copy=False)
    width = keys.shape[1] * keys.itemsize
    blob = keys.tobytes()
    lengths = keys[:, 0].tolist()
    return [blob[row * width : (row + 1) * width] for row in range(batch_size)], lengths


class LmStateCache:
    """
    The output states of a frozen LM by sentence, so that the LM runs once per sentence in a
    training run (and, with a `directory`, once per sentence across runs) instead of once per
    epoch. Only for LMs whose states of a sentence depend on that sentence alone (not on the
    other sentences of its batch, its padding or earlier batches).

    A sentence's key is computed from its unpadded LM input (`sentence_keys`: its length and two
    64-bit hashes of the ids of each LM tensor, computed on the device for the whole batch), its
    value its states `(num_tokens, output_dim)`, float32, on the device the LM runs on (the GPU
    in training), so that a batch's output is assembled there, in one concatenation, with no
    copy between host and device but the keys'. The states of the sentences that one LM call
    computes are kept as views of one compact tensor of their real tokens.

    In memory, states are added until they take `max_memory_mib` of the device's memory (the
    state tensors' bytes; the dictionary's overhead of a few hundred bytes of host memory per
    sentence is not counted), then no more. Not LRU: epochs read every sentence once, in a new
    order, so an LRU cache smaller than the data set would evict each sentence before its next
    use and never hit; keeping the first sentences hits a `max_memory_mib`-sized share of them
    every epoch. If the model moves to another device, the states move with it.

    With a `directory`, every computed state also goes to an LMDB database there (created if
    missing; unbounded; float32 bytes), read when memory misses, so that later runs (other
    seeds, ablations) reuse them. The store records the fingerprint of the LM it holds
    (weights, architecture, layer, directions: `state_dict_fingerprint`) and the format of its
    keys (`KEY_FORMAT`); one of another LM or another key format is refused.

    # Parameters

    output_dim : `int`
        The states' dimension.
    max_memory_mib : `float`
        The in-memory bound, MiB of the LM's device's memory; 0 keeps nothing in memory.
    directory : `str`, optional
        The disk store.
    """

    def __init__(
        self, output_dim: int, max_memory_mib: float, directory: Optional[str] = None
    ) -> None:
        if not isinstance(max_memory_mib, (int, float)) or max_memory_mib < 0:
            raise ConfigurationError(
                f"cache.max_memory_mib must be a number >= 0, not {max_memory_mib!r}"
            )
        self._output_dim = output_dim
        self._max_memory_bytes = int(max_memory_mib * 2**20)
        self._directory = directory
        self._states: Dict[bytes, torch.Tensor] = {}
        self.memory_bytes = 0
        self._memory_full = False
        self._lm_fingerprint: Optional[str] = None
        self._store: Optional[lmdb.Environment] = None
        # Zeros `(at least num_tokens, output_dim)`, cut to pad outputs; on the device of the
        # states in memory, which `__call__` tells by it.
        self._padding = torch.zeros(0, output_dim)

    def __len__(self) -> int:
        return len(self._states)

    def __call__(
        self,
        lm_tensors: Dict[str, torch.Tensor],
        mask: torch.BoolTensor,
        lm_fingerprint: str,
        run_lm: Callable[[Dict[str, torch.Tensor]], torch.Tensor],
    ) -> torch.Tensor:
        """
        # Parameters

        lm_tensors : `Dict[str, torch.Tensor]`
            The LM token indexer's integer tensors, each `(batch_size, num_tokens, ...)`, on
            `mask`'s device.
        mask : `torch.BoolTensor`
            `(batch_size, num_tokens)`, true at real tokens, which precede the padding.
        lm_fingerprint : `str`
            The fingerprint of the LM `run_lm` runs; a new one drops the states of the old.
        run_lm : `Callable`
            Maps a sub-batch of `lm_tensors` to its states `(sub_batch_size, sub_num_tokens,
            output_dim)`, zero at padding; called once per batch, on the sentences missed.

        # Returns

        `(batch_size, num_tokens, output_dim)` float32 states on `mask`'s device, zero at
        padding.
        """
        if lm_fingerprint != self._lm_fingerprint:
            self._use_lm(lm_fingerprint)
        if self._padding.device != mask.device:
            self._move_to(mask.device)
        keys, lengths = sentence_keys(lm_tensors, mask)
        sentence_states: List[Optional[torch.Tensor]] = [self._states.get(key) for key in keys]
        # The rows to read or compute: the first of each distinct sentence not in memory.
        missed_rows: Dict[bytes, int] = {}
        for row, key in enumerate(keys):
            if sentence_states[row] is None:
                missed_rows.setdefault(key, row)
        if missed_rows:
            found = self._read_store(list(missed_rows), mask.device)
            not_stored = {key: row for key, row in missed_rows.items() if key not in found}
            if not_stored:
                found.update(self._compute(lm_tensors, mask, not_stored, lengths, run_lm))
            sentence_states = [
                found[key] if states is None else states
                for key, states in zip(keys, sentence_states)
            ]
        return self._pad(sentence_states, lengths, mask.shape[1])

    def _use_lm(self, lm_fingerprint: str) -> None:
        """Forgets the states of another LM and opens the disk store, checking whose it is."""
        self._states.clear()
        self.memory_bytes = 0
        self._memory_full = False
        self._lm_fingerprint = lm_fingerprint
        if self._directory is None:
            return
        self._store = None
        if os.path.isdir(self._directory) and os.listdir(self._directory) and not os.path.exists(
            os.path.join(self._directory, "data.mdb")
        ):
            raise ConfigurationError(
                f"cache.directory = {self._directory} is not an LM state store (no data.mdb) "
                "and not empty; name a new or empty directory"
            )
        store = _open_store(self._directory)
        with store.begin(write=True) as transaction:
            stored = transaction.get(_FINGERPRINT_KEY)
            key_format = transaction.get(_KEY_FORMAT_KEY)
            if stored is None:
                transaction.put(_FINGERPRINT_KEY, lm_fingerprint.encode())
                transaction.put(_KEY_FORMAT_KEY, KEY_FORMAT)
                key_format = KEY_FORMAT
        if key_format != KEY_FORMAT:
            raise ConfigurationError(
                f"cache.directory = {self._directory} holds LM states under sentence keys of "
                f"another format ({key_format.decode() if key_format else 'not named'}; "
                f"this version's: {KEY_FORMAT.decode()}), which would never be found; delete that "
                "directory or name another"
            )
        if stored is not None and stored.decode() != lm_fingerprint:
            raise ConfigurationError(
                f"cache.directory = {self._directory} holds the states of another LM (other "
                "weights, architecture, layer, directions or precision: fingerprint "
                f"{stored.decode()[:12]}..., this LM's {lm_fingerprint[:12]}...); give this "
                "LM another directory or delete that one"
            )
        self._store = store

    def _move_to(self, device: torch.device) -> None:
        """Moves the states in memory (each on its own) and the padding to `device`."""
        self._states = {key: states.to(device) for key, states in self._states.items()}
        self._padding = self._padding.to(device)

    def _read_store(self, keys: List[bytes], device: torch.device) -> Dict[bytes, torch.Tensor]:
        """
        The states `(num_tokens, output_dim)` of those `keys` found in the disk store, on
        `device` (one copy from the host for all), kept in memory as far as they fit.
        """
        if self._store is None:
            return {}
        with self._store.begin() as transaction:
            stored = {key: transaction.get(key) for key in keys}
        stored = {key: value for key, value in stored.items() if value is not None}
        if not stored:
            return {}
        states = torch.frombuffer(bytearray(b"".join(stored.values())), dtype=torch.float32)
        states = states.view(-1, self._output_dim).to(device)
        row_bytes = self._output_dim * states.element_size()
        lengths = [len(value) // row_bytes for value in stored.values()]
        found = dict(zip(stored, states.split(lengths)))
        self._keep_in_memory(found)
        return found

    def _compute(
        self,
        lm_tensors: Dict[str, torch.Tensor],
        mask: torch.BoolTensor,
        missed_rows: Dict[bytes, int],
        lengths: List[int],
        run_lm: Callable[[Dict[str, torch.Tensor]], torch.Tensor],
    ) -> Dict[bytes, torch.Tensor]:
        """
        The states `(num_tokens, output_dim)` of the sentences in `missed_rows` (key: row), on
        `mask`'s device, from one LM call on those rows; kept in memory as far as they fit, and
        written to the disk store.
        """
        rows = list(missed_rows.values())
        row_lengths = [lengths[row] for row in rows]
        row_index = torch.tensor(rows, device=mask.device)
        sub_mask = mask[row_index, : max(row_lengths)]
        states = run_lm(
            {name: tensor[row_index, : sub_mask.shape[1]] for name, tensor in lm_tensors.items()}
        )
        # (total real tokens, output_dim), sentence after sentence.
        real_states = states[sub_mask].float().to(mask.device)
        computed = dict(zip(missed_rows, real_states.split(row_lengths)))
        self._keep_in_memory(computed)
        if self._store is not None:
            with self._store.begin(write=True) as transaction:
                for key, host_states in zip(computed, real_states.cpu().split(row_lengths)):
                    transaction.put(key, host_states.numpy().tobytes())
        return computed

    def _keep_in_memory(self, new_states: Dict[bytes, torch.Tensor]) -> None:
        """Adds `new_states` (views of one tensor) to memory, each if it fits."""
        kept = {}
        for key, states in new_states.items():
            size = states.numel() * states.element_size()
            if self.memory_bytes + size > self._max_memory_bytes:
                if not self._memory_full:
                    logger.info(
                        "LM state cache: %d sentences (%.1f MiB) in memory; "
                        "cache.max_memory_mib reached, states of further sentences are not "
                        "kept in memory",
                        len(self._states) + len(kept),
                        self.memory_bytes / 2**20,
                    )
                    self._memory_full = True
                continue
            kept[key] = states
            self.memory_bytes += size
        if len(kept) < len(new_states):
            # A view keeps its whole base alive: copy the states kept out of the others'.
            kept = {key: states.clone() for key, states in kept.items()}
        self._states.update(kept)

    def _pad(
        self, sentence_states: List[torch.Tensor], lengths: List[int], num_tokens: int
    ) -> torch.Tensor:
        """
        The states of each sentence, `(length, output_dim)`, padded with zeros to `num_tokens`
        and stacked, `(batch_size, num_tokens, output_dim)`: one concatenation of the states
        and pieces of `self._padding`.
        """
        if self._padding.shape[0] < num_tokens:
            self._padding = self._padding.new_zeros(2 * num_tokens, self._output_dim)
        pieces = []
        for states, length in zip(sentence_states, lengths):
            pieces.append(states)
            if length < num_tokens:
                pieces.append(self._padding[: num_tokens - length])
        return torch.cat(pieces).view(len(lengths), num_tokens, self._output_dim)
