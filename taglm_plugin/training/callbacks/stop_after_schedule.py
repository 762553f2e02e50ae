import logging
from typing import TYPE_CHECKING, Any, Dict, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.callbacks.callback import TrainerCallback

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.training.callbacks.stop_training import stop_after_this_epoch
from taglm_plugin.training.learning_rate_schedulers.taglm_step_down import (
    TagLmStepDownScheduler,
)

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)


@TrainerCallback.register("taglm_stop_after_schedule")
class StopAfterScheduleCallback(ChecksConfigKeys, TrainerCallback):
    """
    Carries out the two parts of the TagLM training schedule (Peters et al., 2017) that a
    learning rate scheduler cannot: the trainer's `learning_rate_scheduler` must be a
    `taglm_step_down`, and at the end of every epoch, after the scheduler has stepped,

    * when the schedule has just left stage 0 (the development score stopped improving),
      the model gets the weights of the epoch with the best score back from the trainer's
      `best.th` (with `restore_best_weights`), so the lower learning rates continue from that
      epoch: the paper starts its learning-rate annealing at the epoch with the highest
      development performance. The optimizer's state (Adam's moment estimates) is kept.
    * when the schedule is finished, training stops after this epoch, as after early
      stopping (`stop_after_this_epoch`). The trainer's own `patience` must stay unset: the
      schedule decides when to stop.

    The callback keeps no state of its own; the scheduler's state is in allennlp's training
    checkpoints, so `allennlp train --recover` continues the schedule where it was.

    Registered as a `TrainerCallback` with name "taglm_stop_after_schedule".

    # Parameters

    serialization_dir : `str`
        Given by the trainer, no config entry.
    restore_best_weights : `bool`, optional (default = `True`)
        Whether to reload `best.th` when the schedule leaves stage 0.
    """

    def __init__(self, serialization_dir: Optional[str], restore_best_weights: bool = True) -> None:
        super().__init__(serialization_dir)
        if restore_best_weights and serialization_dir is None:
            raise ConfigurationError(
                "restore_best_weights needs the trainer's best.th, which is only written "
                "with a serialization directory"
            )
        self._restore_best_weights = restore_best_weights

    def on_start(
        self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs
    ) -> None:
        super().on_start(trainer, is_primary)
        if not isinstance(trainer._learning_rate_scheduler, TagLmStepDownScheduler):
            raise ConfigurationError(
                "The taglm_stop_after_schedule callback needs trainer.learning_rate_scheduler "
                "of type taglm_step_down"
            )
        if trainer._metric_tracker._patience is not None:
            raise ConfigurationError(
                "trainer.patience must not be set with the taglm_stop_after_schedule callback: "
                "the taglm_step_down schedule decides when training stops"
            )

    def on_epoch(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Dict[str, Any],
        epoch: int,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        schedule: TagLmStepDownScheduler = trainer._learning_rate_scheduler
        if schedule.annealing_started and self._restore_best_weights:
            best_weights_path = trainer.get_best_weights_path()
            trainer.model.load_state_dict(
                torch.load(best_weights_path, map_location="cpu", weights_only=True)
            )
            logger.info("Restored the weights of the best epoch from %s", best_weights_path)
        if schedule.finished:
            logger.info("The learning rate schedule is finished: stopping after epoch %d", epoch)
            stop_after_this_epoch(trainer)
