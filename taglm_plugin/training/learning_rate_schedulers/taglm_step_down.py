import logging
from typing import Any, Dict, List, Optional

from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers.learning_rate_scheduler import (
    LearningRateScheduler,
)
from allennlp.training.metric_tracker import MetricTracker
from allennlp.training.optimizers import Optimizer

from taglm_plugin.common.config_keys import ChecksConfigKeys

logger = logging.getLogger(__name__)

# The schedule tracks the number the trainer passes to `step`, under this name.
_METRIC_NAME = "validation_metric"


@LearningRateScheduler.register("taglm_step_down")
class TagLmStepDownScheduler(ChecksConfigKeys, LearningRateScheduler):
    """
    The learning rates of the TagLM training schedule (Peters et al., 2017, "Training" in
    the experiments section): train at the initial learning rate while the development
    score improves; then, from the epoch with the best development score, divide the
    learning rate by ten, train five epochs, divide by ten again, train five more epochs and
    stop.

    Stage 0 runs at the initial learning rate until the validation metric has not improved
    for `patience` epochs; stages `1 .. num_stages` run `epochs_per_stage` epochs each at
    `initial lr * factor ** stage`; after the last epoch of the last stage `finished` is
    true. Restoring the best weights when stage 1 starts and stopping when the schedule is
    finished are done by the `taglm_stop_after_schedule` trainer callback, which must be
    configured with this scheduler:

    ```
    "trainer": {
        "validation_metric": "+f1-measure-overall",
        "num_epochs": 50,  // an upper bound; the schedule usually stops earlier
        "learning_rate_scheduler": {"type": "taglm_step_down", "patience": 3},
        "callbacks": ["taglm_stop_after_schedule"],
    }
    ```

    `step(metric)` is called by allennlp's trainer at the end of every epoch with the
    trainer's combined validation score (`MetricTracker.combined_score`), which is higher
    for better models whatever `validation_metric` is (`"-loss"` gives minus the loss), so
    there is no `mode`. Improvement means strictly greater than the best so far, the rule
    that decides which epoch the trainer saves as `best.th`.

    Registered as a `LearningRateScheduler` with name "taglm_step_down".

    # Parameters

    optimizer : `torch.optim.Optimizer`
        Given by the trainer, no config entry.
    patience : `int`, optional (default = `3`)
        Epochs without improvement of the validation metric that end stage 0. The paper
        starts annealing at the epoch with the highest development performance without
        saying how that epoch was recognized.
    factor : `float`, optional (default = `0.1`)
        Learning-rate multiplier at the start of every stage after stage 0.
    epochs_per_stage : `int`, optional (default = `5`)
    num_stages : `int`, optional (default = `2`)
        Stages after stage 0.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        patience: int = 3,
        factor: float = 0.1,
        epochs_per_stage: int = 5,
        num_stages: int = 2,
    ) -> None:
        if patience < 1:
            raise ConfigurationError(f"patience must be >= 1, got {patience}")
        if not 0.0 < factor < 1.0:
            raise ConfigurationError(f"factor must be in (0, 1), got {factor}")
        if epochs_per_stage < 1:
            raise ConfigurationError(f"epochs_per_stage must be >= 1, got {epochs_per_stage}")
        if num_stages < 1:
            raise ConfigurationError(f"num_stages must be >= 1, got {num_stages}")
        self._patience = patience
        self._factor = factor
        self._epochs_per_stage = epochs_per_stage
        self._num_stages = num_stages
        self._plateau = MetricTracker("+" + _METRIC_NAME, patience)
        self._stage = 0
        self._epochs_in_stage = 0
        super().__init__(optimizer)

    @property
    def factor(self) -> float:
        """The learning-rate multiplier of every stage after stage 0."""
        return self._factor

    @property
    def stage(self) -> int:
        """0 before the first decrease, then the number of decreases so far."""
        return self._stage

    @property
    def annealing_started(self) -> bool:
        """Whether the last `step` ended stage 0 (the epoch with the best score is behind)."""
        return self._stage == 1 and self._epochs_in_stage == 0

    @property
    def finished(self) -> bool:
        """Whether the last epoch of the last stage is done."""
        return self._stage == self._num_stages and self._epochs_in_stage == self._epochs_per_stage

    def get_values(self) -> List[float]:
        return [base_lr * self._factor**self._stage for base_lr in self.base_values]

    def step(self, metric: Optional[float] = None) -> None:
        if metric is None:
            raise ConfigurationError(
                "The taglm_step_down learning rate scheduler needs the validation metric of "
                "every epoch: give the trainer validation data and validate after every epoch"
            )
        if self._stage == 0:
            self._plateau.add_metrics({_METRIC_NAME: metric})
            if self._plateau.should_stop_early():
                self._stage = 1
                logger.info(
                    "No improvement for %d epochs (best at epoch %d): learning rate stage 1",
                    self._patience,
                    self._plateau.best_epoch,
                )
        elif self.finished:
            logger.warning(
                "The taglm_step_down schedule finished before this epoch; configure the "
                "taglm_stop_after_schedule trainer callback to stop training when it does"
            )
        else:
            self._epochs_in_stage += 1
            if self._epochs_in_stage == self._epochs_per_stage and self._stage < self._num_stages:
                self._stage += 1
                self._epochs_in_stage = 0
                logger.info("Learning rate stage %d", self._stage)
        super().step(metric)

    def state_dict(self) -> Dict[str, Any]:
        # Plain values only: allennlp's checkpointer reloads them with torch.load, which
        # unpickles nothing but tensors and primitive containers by default.
        return {
            "last_epoch": self.last_epoch,
            "stage": self._stage,
            "epochs_in_stage": self._epochs_in_stage,
            "plateau": self._plateau.state_dict(),
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.last_epoch = state_dict["last_epoch"]
        self._stage = state_dict["stage"]
        self._epochs_in_stage = state_dict["epochs_in_stage"]
        self._plateau.load_state_dict(state_dict["plateau"])
