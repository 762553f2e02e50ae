import logging
import os
from typing import Optional, Sequence

import torch
from allennlp.nn import util as nn_util
from allennlp.training.checkpointer import Checkpointer
from allennlp.training.trainer import TrainerCheckpoint

logger = logging.getLogger(__name__)

INCOMPLETE_SUFFIX = ".incomplete"


@Checkpointer.register("taglm_crash_safe")
class CrashSafeCheckpointer(Checkpointer):
    """
    allennlp's default `Checkpointer` (same parameters, same files), except that
    `allennlp train --recover` also works after a run was killed while it wrote a checkpoint.

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

    Registered as a `Checkpointer` with name "taglm_crash_safe":
    `"trainer": {"checkpointer": {"type": "taglm_crash_safe"}}`.
    """

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
            return TrainerCheckpoint(model_state, training_state)
        return None

    @staticmethod
    def _set_aside(paths: Sequence[str], error: Exception) -> None:
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
