import json
import logging
from typing import TYPE_CHECKING, Any, Dict, Optional

from allennlp.training.callbacks.callback import TrainerCallback

from taglm_plugin.common.config_keys import ChecksConfigKeys

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)


@TrainerCallback.register("taglm_training_end_checkpoint")
class TrainingEndCheckpointCallback(ChecksConfigKeys, TrainerCallback):
    """
    Makes `allennlp train --recover` of a run killed after its last checkpoint (while the
    best weights are loaded, `metrics.json` or `model.tar.gz` are written) end as the
    interrupted run would have: without training again, with the same `metrics.json`.

    allennlp 2.10's trainer keeps the metrics that go to `metrics.json` only in memory, and
    recovering replays the checkpointed epochs without computing any: a run that had reached
    `num_epochs` ends with a `metrics.json` of the best epoch's validation metrics only
    (`best_epoch` and `best_validation_*`). And it checks for early stopping only after an
    epoch it trained, while `MetricTracker`'s checkpoint does not hold the patience that
    `stop_after_this_epoch` sets: a run that had stopped early (`taglm_stop_after_schedule`,
    `taglm_stop_after_seconds`, the trainer's `patience`) trains one epoch more.

    This callback puts into each checkpoint the metrics of the last finished epoch (those
    that `metrics.json` would get) and whether the trainer stops after it (checkpoint at the
    end of an epoch and `MetricTracker.should_stop_early()`, after every callback's
    `on_epoch`). When the trainer restores a checkpoint after which it stops, it only replays
    the checkpointed epochs (`num_epochs` lowered to them); when a resumed run trains no epoch,
    its final metrics are the checkpoint's (so `training_duration` is the interrupted run's).

    Registered as a `TrainerCallback` with name "taglm_training_end_checkpoint"; no parameters.
    """

    def __init__(self, serialization_dir: Optional[str]) -> None:
        super().__init__(serialization_dir)
        self._trainer: Optional["GradientDescentTrainer"] = None
        self._metrics: Optional[Dict[str, Any]] = None
        self._stops_after_checkpoint = False
        self._epochs_trained = 0

    def on_start(
        self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs
    ) -> None:
        super().on_start(trainer, is_primary)
        self._trainer = trainer
        self._epochs_trained = 0
        if self._stops_after_checkpoint:
            epochs = trainer._start_after_epochs_completed
            logger.info(
                "The checkpoint was written after the last epoch of training (epoch %d): "
                "replaying the checkpointed epochs, training none",
                epochs - 1,
            )
            trainer._num_epochs = min(trainer._num_epochs, epochs)

    def on_epoch(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Dict[str, Any],
        epoch: int,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        # As metrics.json holds them: plain values, which the weights-only loading of
        # checkpoints accepts (numpy scalars, for instance, it refuses).
        self._metrics = json.loads(json.dumps(metrics))
        self._epochs_trained += 1

    def on_end(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Optional[Dict[str, Any]] = None,
        epoch: Optional[int] = None,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        super().on_end(trainer, metrics, epoch, is_primary)
        # The trainer returns this dictionary, which becomes metrics.json.
        if metrics is not None and self._epochs_trained == 0 and self._metrics is not None:
            metrics.clear()
            metrics.update(self._metrics)

    def state_dict(self) -> Dict[str, Any]:
        assert self._trainer is not None, "checkpoints are written during training"
        trainer = self._trainer
        return {
            "metrics": self._metrics,
            "stops_after_checkpoint": trainer._batches_in_epoch_completed == 0
            and trainer._metric_tracker.should_stop_early(),
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._metrics = state_dict["metrics"]
        self._stops_after_checkpoint = state_dict["stops_after_checkpoint"]
