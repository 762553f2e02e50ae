import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from allennlp.common.checks import ConfigurationError
from allennlp.data import TensorDict
from allennlp.training.callbacks.callback import TrainerCallback

from taglm_plugin.common.config_keys import ChecksConfigKeys

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)


@TrainerCallback.register("taglm_token_throughput")
class TokenThroughputCallback(ChecksConfigKeys, TrainerCallback):
    """
    Logs how many tokens training has seen and how many it processes per second (wall clock
    since training started, data loading included), every `log_interval_seconds` and after
    every epoch; after every epoch it also writes them to `throughput_epoch_N.json` in the
    serialization directory (`{"epoch", "tokens_seen", "tokens_per_second"}`, beside
    allennlp's `metrics_epoch_N.json`). The count is the sum of the model's `output_key` output
    over the training batches (`num_targets` for `taglm_language_model`: predicted tokens,
    `</S>` included). The total is kept in training checkpoints, so it continues after
    `allennlp train --recover`.

    Registered as a `TrainerCallback` with name "taglm_token_throughput".

    # Parameters

    serialization_dir : `str`
        Given by the trainer, no config entry.
    output_key : `str`, optional (default = `"num_targets"`)
    log_interval_seconds : `float`, optional (default = `60.0`)
    """

    def __init__(
        self,
        serialization_dir: Optional[str],
        output_key: str = "num_targets",
        log_interval_seconds: float = 60.0,
    ) -> None:
        super().__init__(serialization_dir)
        self._output_key = output_key
        self._log_interval_seconds = log_interval_seconds
        self.tokens_seen = 0
        self._tokens_at_start = 0
        self._start_time = 0.0
        self._last_log_time = 0.0

    def on_start(
        self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs
    ) -> None:
        super().on_start(trainer, is_primary)
        self._tokens_at_start = self.tokens_seen
        self._start_time = self._last_log_time = time.monotonic()

    def on_batch(
        self,
        trainer: "GradientDescentTrainer",
        batch_inputs: List[TensorDict],
        batch_outputs: List[Dict[str, Any]],
        batch_metrics: Dict[str, Any],
        epoch: int,
        batch_number: int,
        is_training: bool,
        is_primary: bool = True,
        batch_grad_norm: Optional[float] = None,
        **kwargs,
    ) -> None:
        if not is_training:
            return
        for outputs in batch_outputs:
            if self._output_key not in outputs:
                raise ConfigurationError(
                    f"taglm_token_throughput: the model's outputs have no {self._output_key!r} "
                    f"(output_key); they have {sorted(outputs)}"
                )
            self.tokens_seen += int(outputs[self._output_key])
        if is_primary and time.monotonic() - self._last_log_time >= self._log_interval_seconds:
            self._log()

    def on_epoch(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Dict[str, Any],
        epoch: int,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        if not is_primary:
            return
        self._log()
        if self.serialization_dir is not None:
            path = os.path.join(self.serialization_dir, f"throughput_epoch_{epoch}.json")
            with open(path, "w") as file:
                json.dump(
                    {
                        "epoch": epoch,
                        "tokens_seen": self.tokens_seen,
                        "tokens_per_second": self.tokens_per_second(),
                    },
                    file,
                )

    def tokens_per_second(self) -> float:
        """Tokens per second of wall clock since training (re)started."""
        elapsed = time.monotonic() - self._start_time
        return (self.tokens_seen - self._tokens_at_start) / elapsed if elapsed > 0 else 0.0

    def _log(self) -> None:
        self._last_log_time = time.monotonic()
        logger.info(
            "Training tokens seen: %d, %.0f tokens/s", self.tokens_seen, self.tokens_per_second()
        )

    def state_dict(self) -> Dict[str, Any]:
        return {"tokens_seen": self.tokens_seen}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.tokens_seen = state_dict["tokens_seen"]
