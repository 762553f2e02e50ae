import logging
from typing import Any, Dict

import torch
from allennlp.training.callbacks.callback import TrainerCallback

from taglm_plugin.common.config_keys import ChecksConfigKeys

logger = logging.getLogger(__name__)


@TrainerCallback.register("taglm_torch_rng_checkpoint")
class TorchRngCheckpointCallback(ChecksConfigKeys, TrainerCallback):
    """
    Makes `allennlp train --recover` continue with the random numbers an uninterrupted run
    would have drawn, so that a resumed run ends with the same weights and metrics.

    allennlp 2.10 does not save random number generator states in its checkpoints. To resume,
    it reseeds everything from the config and replays the finished epochs through the
    training data loader without training on them, which advances Python's `random` as the
    data loader's shuffling did. Torch's generators (dropout masks) are not advanced by the
    replay, so without this callback a resumed run draws other dropout masks. This callback
    puts torch's CPU generator state, and every CUDA device's when CUDA is available, into
    each checkpoint (its `state_dict`, as `uint8` tensors that `torch.load` reads with
    `weights_only=True`) and sets the generators back to it when the trainer restores the
    checkpoint. Python's `random` is left to allennlp's replay.

    The replay runs only the training data loader, so for an exact resume the validation data
    loader must not draw from Python's `random` either: give it `"batch_size"` without a
    `"batch_sampler"` (allennlp's `bucket` sampler draws padding noise, even with
    `shuffle: false`).

    Registered as a `TrainerCallback` with name "taglm_torch_rng_checkpoint"; no parameters.
    """

    def state_dict(self) -> Dict[str, Any]:
        state = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["cpu"])
        cuda_states = state_dict.get("cuda")
        if cuda_states is None:
            return
        if torch.cuda.is_available() and torch.cuda.device_count() == len(cuda_states):
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            logger.warning(
                "The checkpoint holds the random number generator states of %d CUDA devices, "
                "this machine has %d: not restoring them, so dropout masks on the GPU will "
                "differ from the interrupted run's",
                len(cuda_states),
                torch.cuda.device_count() if torch.cuda.is_available() else 0,
            )
