import logging
import os
from typing import TYPE_CHECKING, Any, Dict, Optional

import torch
from allennlp.training.callbacks.callback import TrainerCallback

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.training.reloaded_state import reloaded_state_keys

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)


@TrainerCallback.register("taglm_standalone_best_weights")
class StandaloneBestWeightsCallback(ChecksConfigKeys, TrainerCallback):
    """
    Lets the `taglm_crash_safe` checkpointer leave the frozen tensors that the model reads from
    files (`taglm_plugin.training.reloaded_state`: the frozen LMs, the pretrained word table)
    out of every checkpoint, and so out of `best.th`, a hard link to the best epoch's
    checkpoint: at the end of training (also of one cut short by an error) it writes `best.th`
    again with them, whole or not at all, so that the model archive, which allennlp makes of
    `best.th`, stands alone. The other tensors are `best.th`'s own, whatever the model holds
    at that moment. Without this callback the checkpointer keeps every tensor.

    In distributed training only the primary writes. Registered as a `TrainerCallback` with
    name "taglm_standalone_best_weights"; no parameters.
    """

    def on_end(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Optional[Dict[str, Any]] = None,
        epoch: Optional[int] = None,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        super().on_end(trainer, metrics, epoch, is_primary)
        path = trainer.get_best_weights_path()
        if not is_primary or path is None or not os.path.isfile(path):
            return
        best = torch.load(path, map_location="cpu", weights_only=True)
        current = trainer.model.state_dict()
        left_out = sorted(reloaded_state_keys(trainer.model) - set(best))
        if not left_out:
            return
        for key in left_out:
            best[key] = current[key].cpu()
        # Through a temporary file: best.th is never half written, and the checkpoint it is a
        # hard link of stays as it is.
        partial = f"{path}.partial"
        torch.save(best, partial)
        os.replace(partial, path)
        logger.info(
            "Wrote %s with the %d frozen tensors that checkpoints leave out", path, len(left_out)
        )
