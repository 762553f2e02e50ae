import atexit
import multiprocessing.util  # noqa: F401  (its exit handler must be registered before ours)
import weakref
from typing import Iterator

from allennlp.data.data_loaders.data_loader import DataLoader, TensorDict
from allennlp.data.data_loaders.multiprocess_data_loader import MultiProcessDataLoader

from taglm_plugin.common.config_keys import ChecksConfigKeys

# The unfinished passes over the data (generators of `_iter_batches`), each with its workers.
_OPEN_PASSES: "weakref.WeakSet[Iterator[TensorDict]]" = weakref.WeakSet()


@atexit.register
def _close_open_passes() -> None:
    """
    Closes every unfinished pass, which stops its workers (allennlp's `_join_workers`). atexit
    runs its handlers last registered first, so this runs before multiprocessing's own exit
    handler (registered when `multiprocessing.util` was imported), which would terminate them.
    Forked workers leave by `os._exit` and never run it.
    """
    for batches in list(_OPEN_PASSES):
        batches.close()


@DataLoader.register("taglm_multiprocess")
class ClosingMultiProcessDataLoader(ChecksConfigKeys, MultiProcessDataLoader):
    """
    allennlp's `multiprocess` data loader (same parameters and batches) whose workers are
    stopped at the exit of the process: with `num_workers > 0`, allennlp's loader could hang
    the process at exit after an epoch cut short by `batches_per_epoch` (or an exception in
    the middle of an epoch).

    The cause: allennlp keeps the unfinished pass (a generator) for the next epoch and never
    closes it, so its workers are still running at exit, and multiprocessing's exit handler
    terminates them with SIGTERM and then waits for them. `python -m allennlp` installs a
    SIGTERM handler that raises `SigTermReceived`, which the forked workers inherit; a worker's
    `except Exception` catches it and tries to put the error on the batch queue, which no one
    reads any more: polling, or waiting for the queue to be joined, forever.

    This loader closes every unfinished pass at exit before multiprocessing's handler runs:
    allennlp's own cleanup then tells the workers to stop through their pipes, and they exit.

    Registered as a `DataLoader` with name "taglm_multiprocess".
    """

    def _iter_batches(self) -> Iterator[TensorDict]:
        batches = super()._iter_batches()
        _OPEN_PASSES.add(batches)
        return batches
