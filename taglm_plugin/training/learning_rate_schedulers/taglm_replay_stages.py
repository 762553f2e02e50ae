from typing import List

from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers.learning_rate_scheduler import (
    LearningRateScheduler,
)
from allennlp.training.optimizers import Optimizer

from taglm_plugin.common.config_keys import ChecksConfigKeys


@LearningRateScheduler.register("taglm_replay_stages")
class TagLmReplayStagesScheduler(ChecksConfigKeys, LearningRateScheduler):
    """
    The learning rates of a finished `taglm_step_down` schedule, replayed without validation
    data: stage `s` (0 before the first entry of `stage_starts`, then one more at each) runs
    at `initial lr * factor ** s`, the expression `taglm_step_down` uses, so the learning
    rates are the same floats. `taglm_plugin.study.replay` reads `stage_starts` from a run's
    per-epoch metrics.

    Registered as a `LearningRateScheduler` with name "taglm_replay_stages".

    # Parameters

    optimizer : `torch.optim.Optimizer`
        Given by the trainer, no config entry.
    stage_starts : `List[int]`
        The first epoch (0-based) of every stage after stage 0, ascending, each at least 1.
    factor : `float`
        The `taglm_step_down` factor of the replayed run.
    """

    def __init__(self, optimizer: Optimizer, stage_starts: List[int], factor: float) -> None:
        if any(start < 1 for start in stage_starts) or stage_starts != sorted(set(stage_starts)):
            raise ConfigurationError(
                f"stage_starts must be ascending epochs >= 1, each once, got {stage_starts}"
            )
        if not 0.0 < factor < 1.0:
            raise ConfigurationError(f"factor must be in (0, 1), got {factor}")
        self._stage_starts = list(stage_starts)
        self._factor = factor
        super().__init__(optimizer)

    def get_values(self) -> List[float]:
        # `step` after epoch `last_epoch` sets the learning rates of the next epoch.
        stage = sum(start <= self.last_epoch + 1 for start in self._stage_starts)
        return [base_lr * self._factor**stage for base_lr in self.base_values]
