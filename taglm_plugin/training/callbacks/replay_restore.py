import logging
import os
from typing import TYPE_CHECKING, Any, Dict, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.callbacks.callback import TrainerCallback

from taglm_plugin.common.config_keys import ChecksConfigKeys

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "replay_restore.th"


@TrainerCallback.register("taglm_replay_restore")
class ReplayRestoreCallback(ChecksConfigKeys, TrainerCallback):
    """
    Replays, without validation data, the weight restore of a `taglm_stop_after_schedule`
    run: at the end of epoch `save_epoch` the model's weights go to `replay_restore.th` in the
    serialization directory, and at the end of epoch `restore_epoch` the model gets them back
    (the optimizer's state is kept), as `taglm_stop_after_schedule` reloads `best.th` when its
    schedule leaves stage 0. The file stays in the directory, so `--recover` after
    `save_epoch` restores the same weights.

    Registered as a `TrainerCallback` with name "taglm_replay_restore".

    # Parameters

    serialization_dir : `str`
        Given by the trainer, no config entry.
    save_epoch : `int`
        The epoch whose weights are restored (the first run's best epoch at that point).
    restore_epoch : `int`
        The epoch after which they are restored; greater than `save_epoch`.
    """

    def __init__(
        self, serialization_dir: Optional[str], save_epoch: int, restore_epoch: int
    ) -> None:
        super().__init__(serialization_dir)
        if serialization_dir is None:
            raise ConfigurationError("taglm_replay_restore needs a serialization directory")
        if not 0 <= save_epoch < restore_epoch:
            raise ConfigurationError(
                f"taglm_replay_restore: need 0 <= save_epoch < restore_epoch, got {save_epoch} "
                f"and {restore_epoch}"
            )
        self._path = os.path.join(serialization_dir, WEIGHTS_FILE)
        self._save_epoch = save_epoch
        self._restore_epoch = restore_epoch

    def on_epoch(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Dict[str, Any],
        epoch: int,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        if epoch == self._save_epoch:
            torch.save(trainer.model.state_dict(), self._path)
        elif epoch == self._restore_epoch:
            trainer.model.load_state_dict(
                torch.load(self._path, map_location="cpu", weights_only=True)
            )
            logger.info("Restored the weights of epoch %d from %s", self._save_epoch, self._path)
