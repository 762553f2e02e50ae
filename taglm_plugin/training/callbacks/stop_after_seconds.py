import logging
import time
from typing import TYPE_CHECKING, Any, Dict, Optional

import torch.distributed as dist
from allennlp.nn.util import dist_reduce
from allennlp.training.callbacks.callback import TrainerCallback

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.training.callbacks.stop_training import stop_after_this_epoch

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)


@TrainerCallback.register("taglm_stop_after_seconds")
class StopAfterSecondsCallback(ChecksConfigKeys, TrainerCallback):
    """
    Ends training within a wall-clock budget: after an epoch, training stops when another epoch
    of the mean length so far would end past `seconds` after training started (the time
    before the trainer starts, e.g. building the vocabulary, does not count). The trainer then
    finishes as after early stopping: it loads the weights of the epoch with the best validation
    metric (the last epoch's without validation data) and writes `model.tar.gz`.

    Only whole epochs are trained, so make them a small part of the budget, e.g. with the data
    loader's `batches_per_epoch` (which also makes validation and checkpoints regular).

    It stops through `stop_after_this_epoch`, as `taglm_stop_after_schedule` does. In
    distributed training each worker reads its own clock and all stop when one would: a
    worker that trained on alone would wait for the others forever (allennlp#4794).

    Registered as a `TrainerCallback` with name "taglm_stop_after_seconds".

    # Parameters

    serialization_dir : `str`
        Given by the trainer, no config entry.
    seconds : `float`
        The training time budget; a value `<= 0` means no budget (the callback does nothing).
    """

    def __init__(self, serialization_dir: Optional[str], seconds: float) -> None:
        super().__init__(serialization_dir)
        self._seconds = seconds
        self._start_time: Optional[float] = None
        self._epochs_trained = 0

    def on_start(
        self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs
    ) -> None:
        super().on_start(trainer, is_primary)
        self._start_time = time.monotonic()
        self._epochs_trained = 0

    def on_epoch(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Dict[str, Any],
        epoch: int,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        if self._seconds <= 0:
            return
        assert self._start_time is not None
        self._epochs_trained += 1
        elapsed = time.monotonic() - self._start_time
        mean_epoch = elapsed / self._epochs_trained
        # Every worker calls on_epoch, so the reduction is collective.
        if dist_reduce(int(elapsed + mean_epoch > self._seconds), dist.ReduceOp.MAX):
            logger.info(
                "Stopping after epoch %d: %.0f s of the %.0f s training budget used, an epoch "
                "takes %.0f s",
                epoch,
                elapsed,
                self._seconds,
                mean_epoch,
            )
            stop_after_this_epoch(trainer)
