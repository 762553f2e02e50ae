"""
Tagging on the CPU in worker processes, one intra-op thread each: the tagger's matrices (a
batch of sentences times a few hundred units) are too small for torch's intra-op threads to
share well, so processes that each tag whole batches scale with the cores where threads do
not (the `taglm_tagger` predictor's `workers`).
"""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, List, Optional, Sequence

import torch

# A share of a batch -> its result, run in a worker process (`PredictionWorkers.map`).
ShareTask = Callable[[Any], Any]

# The task of this worker process, set when it starts (`None` in the parent).
_task: Optional[ShareTask] = None


def _start_worker(task: ShareTask) -> None:
    global _task
    torch.set_num_threads(1)
    _task = task


def _run_share(share: Any) -> Any:
    return _task(share)


class PredictionWorkers:
    """
    `processes` worker processes forked from this one when `map` is first called, each
    running `task` on the shares it is given with one intra-op thread. The workers inherit
    `task` and everything it refers to (the model) at the fork, unpickled and shared with this
    process until written; the shares and their results are pickled. A worker that dies (out
    of memory, killed) makes `map` raise `BrokenProcessPool` rather than wait. The processes
    end with `close()` or when this process exits.

    Forking needs a process that has not started CUDA, so this is for models on the CPU.
    """

    def __init__(self, processes: int, task: ShareTask) -> None:
        self.processes = processes
        self._task = task
        self._pool: Optional[ProcessPoolExecutor] = None

    def map(self, shares: Sequence[Any]) -> List[Any]:
        """`task(share)` for every share, in the order of `shares`; the error of the first
        share that failed, if any, after every share has ended."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker,
                initargs=(self._task,),
            )
        futures = [self._pool.submit(_run_share, share) for share in shares]
        errors = [error for error in (future.exception() for future in futures) if error]
        if errors:
            raise errors[0]
        return [future.result() for future in futures]

    def close(self) -> None:
        """Ends the worker processes (started again by the next `map`)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
