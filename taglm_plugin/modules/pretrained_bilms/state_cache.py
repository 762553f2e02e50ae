import hashlib
import logging
import os
from typing import Callable, Dict, List, Optional

import lmdb
import torch
from allennlp.common.checks import ConfigurationError

logger = logging.getLogger(__name__)

STORE_MAP_SIZE = 1 << 40
"""The size of the disk store's memory map (1 TiB of address space; the file only grows as
states are written)."""

_FINGERPRINT_KEY = b"lm_fingerprint"
"""The store's entry naming the LM its states belong to; sentence keys are 16-byte digests."""


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


def state_dict_fingerprint(state_dict: Dict[str, torch.Tensor], *details: str) -> str:
    """
    A SHA-256 hex digest of every tensor of `state_dict` (name, dtype, shape and bytes) and of
    `details`: two LMs get the same fingerprint only if they compute the same states.
    """
    digest = hashlib.sha256()
    for detail in details:
        digest.update(detail.encode() + b"\0")
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class LmStateCache:
    """
    The output states of a frozen LM by sentence, so that the LM runs once per sentence in a
    training run (and, with a `directory`, once per sentence across runs) instead of once per
    epoch. Only for LMs whose states of a sentence depend on that sentence alone (not on the
    other sentences of its batch, its padding or earlier batches).

    A sentence's key is a 16-byte BLAKE2b digest of its unpadded LM input (every indexer tensor
    cut to its real tokens: name, dtype, shape and bytes), its value its states
    `(num_tokens, output_dim)`, float32, in CPU memory: the bound is on host memory, which is
    far larger than what the tagger's GPU can spare, and a batch's states then cost one
    host-to-device copy (a few MB, well under a millisecond on a GPU's bus).

    In memory, states are added until they take `max_memory_mib` (the state tensors' bytes;
    the dictionary's overhead of a few hundred bytes per sentence is not counted), then no
    more. Not LRU: epochs read every sentence once, in a new order, so an LRU cache smaller
    than the data set would evict each sentence before its next use and never hit; keeping the
    first sentences hits a `max_memory_mib`-sized share of them every epoch.

    With a `directory`, every computed state also goes to an LMDB database there (created if
    missing; unbounded), read when memory misses, so that later runs (other seeds, ablations)
    reuse them. The store records the fingerprint of the LM it holds (weights, architecture,
    layer, directions: `state_dict_fingerprint`); one of another LM is refused.

    # Parameters

    output_dim : `int`
        The states' dimension.
    max_memory_mib : `float`
        The in-memory bound, MiB; 0 keeps nothing in memory.
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
            The LM token indexer's tensors, each `(batch_size, num_tokens, ...)`.
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
        cpu_mask = mask.cpu()
        lengths = cpu_mask.sum(dim=1).tolist()
        cpu_tensors = {name: tensor.cpu() for name, tensor in lm_tensors.items()}
        keys = self._sentence_keys(cpu_tensors, lengths)
        sentence_states: List[Optional[torch.Tensor]] = [self._lookup(key) for key in keys]
        # The rows to run the LM on: the first of each distinct sentence not found.
        missed_rows: Dict[bytes, int] = {}
        for row, key in enumerate(keys):
            if sentence_states[row] is None:
                missed_rows.setdefault(key, row)
        if missed_rows:
            computed = self._run(lm_tensors, mask, list(missed_rows.values()), run_lm)
            computed_by_key = dict(zip(missed_rows, computed))
            self._insert(computed_by_key)
            sentence_states = [
                computed_by_key[key] if states is None else states
                for key, states in zip(keys, sentence_states)
            ]
        output = torch.zeros(*cpu_mask.shape, self._output_dim)
        output[cpu_mask] = torch.cat(sentence_states)
        return output.to(mask.device)

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
            if stored is None:
                transaction.put(_FINGERPRINT_KEY, lm_fingerprint.encode())
        if stored is not None and stored.decode() != lm_fingerprint:
            raise ConfigurationError(
                f"cache.directory = {self._directory} holds the states of another LM (other "
                "weights, architecture, layer or directions: fingerprint "
                f"{stored.decode()[:12]}..., this LM's {lm_fingerprint[:12]}...); give this "
                "LM another directory or delete that one"
            )
        self._store = store

    @staticmethod
    def _sentence_keys(cpu_tensors: Dict[str, torch.Tensor], lengths: List[int]) -> List[bytes]:
        keys = []
        for row, length in enumerate(lengths):
            digest = hashlib.blake2b(digest_size=16)
            for name in sorted(cpu_tensors):
                ids = cpu_tensors[name][row, :length].contiguous()
                digest.update(f"{name} {ids.dtype} {tuple(ids.shape)}\0".encode())
                digest.update(ids.numpy().tobytes())
            keys.append(digest.digest())
        return keys

    def _lookup(self, key: bytes) -> Optional[torch.Tensor]:
        states = self._states.get(key)
        if states is not None or self._store is None:
            return states
        with self._store.begin() as transaction:
            stored = transaction.get(key)
        if stored is None:
            return None
        states = torch.frombuffer(bytearray(stored), dtype=torch.float32)
        states = states.view(-1, self._output_dim)
        self._keep_in_memory(key, states)
        return states

    @staticmethod
    def _run(
        lm_tensors: Dict[str, torch.Tensor],
        mask: torch.BoolTensor,
        rows: List[int],
        run_lm: Callable[[Dict[str, torch.Tensor]], torch.Tensor],
    ) -> List[torch.Tensor]:
        """The states of the sentences in `rows`, `(num_tokens, output_dim)` each, on the CPU."""
        row_index = torch.tensor(rows, device=mask.device)
        sub_mask = mask[row_index]
        num_tokens = int(sub_mask.sum(dim=1).max())
        sub_mask = sub_mask[:, :num_tokens]
        states = run_lm(
            {name: tensor[row_index, :num_tokens] for name, tensor in lm_tensors.items()}
        )
        # (total real tokens, output_dim), sentence after sentence.
        real_states = states[sub_mask].float().cpu()
        return list(real_states.split(sub_mask.sum(dim=1).tolist()))

    def _insert(self, new_states: Dict[bytes, torch.Tensor]) -> None:
        for key, states in new_states.items():
            self._keep_in_memory(key, states)
        if self._store is not None:
            with self._store.begin(write=True) as transaction:
                for key, states in new_states.items():
                    transaction.put(key, states.numpy().tobytes())

    def _keep_in_memory(self, key: bytes, states: torch.Tensor) -> None:
        size = states.numel() * states.element_size()
        if self.memory_bytes + size > self._max_memory_bytes:
            if not self._memory_full:
                logger.info(
                    "LM state cache: %d sentences (%.1f MiB) in memory; cache.max_memory_mib "
                    "reached, states of further sentences are not kept in memory",
                    len(self._states),
                    self.memory_bytes / 2**20,
                )
                self._memory_full = True
            return
        # A copy: `states` may be a view of a whole batch's states.
        self._states[key] = states.clone()
        self.memory_bytes += size
