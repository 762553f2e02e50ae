import logging
import os
import shutil
from typing import Dict, Optional, Sequence, Tuple

import torch
from allennlp.nn import util as nn_util
from allennlp.training.checkpointer import Checkpointer
from allennlp.training.trainer import Trainer, TrainerCheckpoint

from taglm_plugin.common.atomic_files import atomic_output
from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.training.callbacks.standalone_best_weights import StandaloneBestWeightsCallback
from taglm_plugin.training.reloaded_state import reloaded_state_keys

logger = logging.getLogger(__name__)

INCOMPLETE_SUFFIX = ".incomplete"
# The trainer's file of the best epoch's weights (GradientDescentTrainer, unsharded).
BEST_WEIGHTS_NAME = "best.th"


@Checkpointer.register("taglm_crash_safe")
class CrashSafeCheckpointer(ChecksConfigKeys, Checkpointer):
    """
    allennlp's default `Checkpointer` (same parameters, same files), except that
    `allennlp train --recover` also works after a run was killed while it wrote a checkpoint,
    and resumes with the right best model.

    allennlp writes a checkpoint as `model_state_e{epochs}_b{batches}.th`, then
    `training_state_e{epochs}_b{batches}.th`, each with `torch.save` straight to its final
    name. A process killed during those writes (SIGKILL, the out-of-memory killer, a
    preempted job) leaves a truncated file, or a model state without its training state. The
    default checkpointer resumes from the newest model state's name and fails on such a
    checkpoint (`EOFError`, `OSError: [Errno 22] Invalid argument` or `RuntimeError:
    PytorchStreamReader failed reading zip archive`), so the run cannot be resumed at all; and
    as it never overwrites an existing checkpoint file, the broken file would outlive a rerun.

    This checkpointer resumes from the newest checkpoint whose two files both load. Every
    newer checkpoint with a file that cannot be read is renamed aside (`.th.incomplete`, with a
    warning naming the files and the error), so the resumed run writes it anew. Loading is
    weights-only (`torch.load(..., weights_only=True)`): a file whose unpickling that refuses
    is not treated as cut short, its `UnpicklingError` propagates.

    After each epoch allennlp's trainer saves the checkpoint first and then, if the epoch has
    the best validation metric so far, copies its model state to `best.th` and records that
    file as the best model. The checkpoint of a best epoch therefore records the previous best
    model file (`None` after the first epoch), and a run resumed from it has no best model:
    at the end it keeps its last weights instead of loading `best.th` (and the
    `taglm_stop_after_schedule` callback fails to restore the best weights). When the loaded
    checkpoint ends a best epoch, this checkpointer does what the trainer would have done next:
    it copies the checkpoint's model state to `best.th` and records it in the training state.
    (Not with a moving average, whose `best.th` holds the averaged weights, nor for sharded
    model states: allennlp's behaviour is kept.)

    In distributed training every worker loads the checkpoint, and only the primary renames
    files aside and writes `best.th` (the others record its path), so each file is written once.

    When the trainer has the `taglm_standalone_best_weights` callback, checkpoints leave out
    the frozen tensors that the model reads from files whenever it is built for training
    (`taglm_plugin.training.reloaded_state`: ~380 MB of each checkpoint with `paper`-size
    LMs); the model fills them in when a checkpoint is loaded, and the callback puts them back
    into `best.th` at the end of training.

    Registered as a `Checkpointer` with name "taglm_crash_safe":
    `"trainer": {"checkpointer": {"type": "taglm_crash_safe"}}`.
    """

    def save_checkpoint(self, trainer: Trainer) -> None:
        if any(isinstance(c, StandaloneBestWeightsCallback) for c in trainer._callbacks):
            trainer = _LeavingOutReloadedState(trainer)  # type: ignore[assignment]
        super().save_checkpoint(trainer)

    def load_checkpoint(self) -> Optional[TrainerCheckpoint]:
        for point_in_time in sorted(self._find_all_checkpoints(), reverse=True):
            paths = (
                self._model_state_path(*point_in_time),
                self._training_state_path(*point_in_time),
            )
            try:
                # Onto the CPU first, as allennlp does: the trainer's load_state_dict moves
                # the tensors to the GPU.
                model_state, training_state = [
                    torch.load(path, map_location=nn_util.device_mapping(-1), weights_only=True)
                    for path in paths
                ]
            except (EOFError, OSError, RuntimeError) as error:
                self._set_aside(paths, error)
                continue
            if self._ends_a_best_epoch(point_in_time, training_state):
                training_state["best_model_filename"] = self._copy_to_best(paths[0])
            return TrainerCheckpoint(model_state, training_state)
        return None

    def _ends_a_best_epoch(self, point_in_time: Tuple[int, int], training_state: Dict) -> bool:
        _, batches_in_epoch_completed = point_in_time
        return (
            batches_in_epoch_completed == 0
            and training_state["metric_tracker"]["is_best_so_far"]
            and "moving_average" not in training_state
            and not self.state_is_sharded
        )

    def _copy_to_best(self, model_state_path: str) -> str:
        best_path = os.path.join(self._serialization_dir, BEST_WEIGHTS_NAME)
        if not self._is_primary:
            return best_path
        with open(model_state_path, "rb") as model_state, atomic_output(best_path, "wb") as best:
            shutil.copyfileobj(model_state, best)
        logger.info("The checkpoint ends the best epoch so far: copied it to %s", best_path)
        return best_path

    def _set_aside(self, paths: Sequence[str], error: Exception) -> None:
        if not self._is_primary:
            return
        existing = [path for path in paths if os.path.exists(path)]
        for path in existing:
            os.replace(path, path + INCOMPLETE_SUFFIX)
        logger.warning(
            "Checkpoint %s cannot be read (%s: %s), probably cut short by an interrupted run; "
            "renamed it to %s and trying the previous checkpoint",
            " + ".join(paths),
            type(error).__name__,
            error,
            " + ".join(path + INCOMPLETE_SUFFIX for path in existing),
        )


class _LeavingOutReloadedState:
    """The trainer, as `Checkpointer.save_checkpoint` uses it, with a checkpoint state whose
    model state leaves out the model's `reloaded_state_keys`."""

    def __init__(self, trainer: Trainer) -> None:
        self._trainer = trainer

    def get_checkpoint_state(self) -> Optional[TrainerCheckpoint]:
        state = self._trainer.get_checkpoint_state()
        if state is None:
            return None
        left_out = reloaded_state_keys(self._trainer.model)
        model_state = {k: v for k, v in state.model_state.items() if k not in left_out}
        return TrainerCheckpoint(model_state, state.trainer_state)
