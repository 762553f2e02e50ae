import logging
import os
from typing import TYPE_CHECKING, Any, Dict, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.callbacks.callback import TrainerCallback

from taglm_plugin.common.atomic_files import atomic_output
from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.common.fingerprints import state_dict_fingerprint
from taglm_plugin.training.reloaded_state import reloaded_state_keys

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)


def reloaded_state_digests(model: torch.nn.Module) -> Dict[str, str]:
    """The `state_dict_fingerprint` of each of the `model`'s `reloaded_state_keys`."""
    state = model.state_dict()
    return {
        key: state_dict_fingerprint({key: state[key]})
        for key in sorted(reloaded_state_keys(model))
    }


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

    As they are not in the checkpoints, `--recover` takes those tensors from the files the
    config names now: the callback keeps a digest of each in the checkpoints (`state_dict`,
    computed once per run) and refuses to resume with tensors that differ from the
    interrupted run's (files replaced since), a `ConfigurationError` naming the first.

    In distributed training only the primary writes. Registered as a `TrainerCallback` with
    name "taglm_standalone_best_weights"; no parameters.
    """

    def __init__(self, serialization_dir: Optional[str]) -> None:
        super().__init__(serialization_dir)
        self._digests: Dict[str, str] = {}
        self._checkpointed_digests: Dict[str, str] = {}

    def on_start(
        self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs
    ) -> None:
        super().on_start(trainer, is_primary)
        self._digests = reloaded_state_digests(trainer.model)
        changed = [
            key
            for key, digest in self._checkpointed_digests.items()
            if self._digests.get(key) != digest
        ]
        if changed:
            raise ConfigurationError(
                f"the frozen tensor {changed[0]} read from the files the config names differs "
                f"from the one the interrupted run trained with ({len(changed)} differ): the "
                "files were replaced since; train afresh, or restore them to --recover"
            )

    def state_dict(self) -> Dict[str, Any]:
        return {"digests": self._digests}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._checkpointed_digests = state_dict.get("digests", {})

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
        # Through a new file: best.th is never half written, and the checkpoint it is a hard
        # link of stays as it is.
        with atomic_output(path, "wb") as output:
            torch.save(best, output)
        logger.info(
            "Wrote %s with the %d frozen tensors that checkpoints leave out", path, len(left_out)
        )
