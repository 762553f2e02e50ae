from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer


def stop_after_this_epoch(trainer: "GradientDescentTrainer") -> None:
    """
    Makes allennlp 2.10's `GradientDescentTrainer` end training after the current epoch, as
    after early stopping (it then loads `best.th` and archives the model). The trainer has no
    stop request for callbacks; its only early exit is `MetricTracker.should_stop_early()`,
    checked after an epoch's callbacks, checkpoint and `best.th`, so a patience of 0 makes it
    true. Call it from a callback's `on_epoch`.
    """
    trainer._metric_tracker._patience = 0
