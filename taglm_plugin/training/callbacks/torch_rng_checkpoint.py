import logging
from typing import Any, Dict, List, Optional

import torch
import torch.distributed as dist
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

    In distributed training each worker's generators have a state of their own (the workers
    share the seed, but their batches differ in size, and so do the numbers their dropout
    draws), while only the primary writes the checkpoint. So at the end of every epoch, and
    after every training batch when the checkpointer saves every `save_every_num_batches`
    (the only other point where a distributed checkpoint is written), the workers gather
    their states onto the primary (`torch.distributed.all_gather_object`), and its checkpoint
    holds them all (`"workers"`, by rank); on `--recover` each worker restores its own. A
    checkpoint of another number of workers restores the primary's state on every worker,
    with a warning.

    Registered as a `TrainerCallback` with name "taglm_torch_rng_checkpoint"; no parameters.
    """

    def __init__(self, serialization_dir: Optional[str] = None) -> None:
        super().__init__(serialization_dir)
        self._worker_states: Optional[List[Dict[str, Any]]] = None

    @staticmethod
    def _own_state() -> Dict[str, Any]:
        state = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def _gather_worker_states(self) -> None:
        if not (dist.is_available() and dist.is_initialized()):
            return
        states: List[Optional[Dict[str, Any]]] = [None] * dist.get_world_size()
        dist.all_gather_object(states, self._own_state())
        self._worker_states = states  # type: ignore[assignment]

    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch,
                 batch_number, is_training, is_primary=True, batch_grad_norm=None,
                 **kwargs) -> None:  # fmt: skip
        # Every worker takes the same branch: a distributed checkpointer has no time-based
        # saving, so save_every_num_batches decides the same on every worker.
        checkpointer = getattr(trainer, "_checkpointer", None)
        if is_training and getattr(checkpointer, "_save_every_num_batches", None) is not None:
            self._gather_worker_states()

    def on_epoch(self, trainer, metrics, epoch, is_primary=True, **kwargs) -> None:
        self._gather_worker_states()

    def state_dict(self) -> Dict[str, Any]:
        # Called by the primary only (allennlp's other workers write no checkpoint).
        state = self._own_state()
        if self._worker_states is None:
            return state
        return {**state, "workers": [state] + list(self._worker_states[1:])}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        workers = state_dict.get("workers")
        distributed = dist.is_available() and dist.is_initialized()
        world_size, rank = (dist.get_world_size(), dist.get_rank()) if distributed else (1, 0)
        if workers is not None and len(workers) == world_size:
            state_dict = workers[rank]
        elif (workers is not None or distributed) and rank == 0:
            logger.warning(
                "The checkpoint holds the random number generator states of %d workers, this "
                "run has %d: every worker gets the primary's, so the random numbers (dropout "
                "masks) will differ from the interrupted run's",
                len(workers) if workers is not None else 1,
                world_size,
            )
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
