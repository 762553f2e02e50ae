"""
`taglm_lm_snapshots`: keeps an LM's weights at fractions of its training budget, so that one
study measures TagLM with LMs of several budgets without training more LMs.
"""
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import torch
from allennlp.training.callbacks.callback import TrainerCallback

from taglm_plugin.common.atomic_files import atomic_output
from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.study.json_files import write_json
from taglm_plugin.study.plan import snapshot_record, snapshot_weights
from taglm_plugin.study.results import duration_seconds

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)


@TrainerCallback.register("taglm_lm_snapshots")
class LmSnapshotsCallback(ChecksConfigKeys, TrainerCallback):
    """
    After every epoch (a validation point: allennlp's `metrics_epoch_N.json` holds its
    held-out perplexity), measures how far training is into its budget: the epoch's
    `training_duration` over `seconds`, or with no time budget (`seconds <= 0`) the epochs
    trained so far over `num_epochs`. The snapshot of fraction F is the model's state at the
    last epoch whose progress is at most F, or at the first epoch if every epoch ends past F:
    each epoch up to F replaces the snapshot, later epochs keep it.

    A snapshot is `snapshot@lmF.th` (the model's state dict, `torch.save`) and
    `snapshot@lmF.json` (`{"fraction": F, "epoch": N}`) in the serialization directory
    (`taglm_plugin.study.plan.snapshot_weights` and `snapshot_record`), written by the primary
    worker, each file under a temporary name first. It is a copy of its own: the LM configs'
    checkpointer keeps only the newest `model_state_e*_b*.th` (`keep_most_recent_by_count: 1`).
    The records on disk are the callback's state, so a training resumed with `--recover`
    keeps the snapshot of a fraction that its epochs end past; allennlp's `training_duration`
    (as `taglm_stop_after_seconds`' clock) starts again from 0 on resumption, so the progress
    of the resumed epochs counts from there.

    Registered as a `TrainerCallback` with name "taglm_lm_snapshots"; the study adds it to the
    LM configs' callbacks (`taglm_plugin.study.plan.with_snapshot_callback`).

    # Parameters

    serialization_dir : `str`
        Given by the trainer, no config entry.
    fractions : `List[float]`
        Fractions of the budget, each strictly between 0 and 1.
    seconds : `float`
        The training time budget (`taglm_stop_after_seconds`' `seconds`); `<= 0`: none.
    num_epochs : `int`
        The trainer's `num_epochs`: the budget when there is no time budget.
    """

    def __init__(
        self,
        serialization_dir: Optional[str],
        fractions: List[float],
        seconds: float,
        num_epochs: int,
    ) -> None:
        super().__init__(serialization_dir)
        if not all(0 < fraction < 1 for fraction in fractions):
            raise ValueError(f"taglm_lm_snapshots: fractions must be in (0, 1), not {fractions}")
        self._fractions = fractions
        self._seconds = seconds
        self._num_epochs = num_epochs

    def progress(self, metrics: Dict[str, Any], epoch: int) -> float:
        """The part of the budget used at the end of epoch `epoch` (0-based)."""
        if self._seconds > 0:
            return duration_seconds(metrics["training_duration"]) / self._seconds
        return (epoch + 1) / self._num_epochs

    def on_epoch(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Dict[str, Any],
        epoch: int,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        if not is_primary or self.serialization_dir is None:
            return
        directory = Path(self.serialization_dir)
        progress = self.progress(metrics, epoch)
        for fraction in self._fractions:
            record = snapshot_record(directory, fraction)
            if progress > fraction and record.is_file():
                continue
            weights = snapshot_weights(directory, fraction)
            with atomic_output(weights, "wb") as output:
                torch.save(trainer.model.state_dict(), output)
            write_json(record, {"fraction": fraction, "epoch": epoch})
            logger.info(
                "LM snapshot of %g of the budget: epoch %d (%.2f of the budget)",
                fraction,
                epoch,
                progress,
            )
