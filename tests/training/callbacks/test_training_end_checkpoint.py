"""
A run resumed from a checkpoint written after its last epoch (by allennlp's trainer restoring
it, as `allennlp train --recover` does) trains no epoch and returns the metrics of the run.
"""
import pytest

from tests.training.callbacks.scripted_training import (
    SCORES,
    RecordLearningRateAndWeight,
    epochs_with_metrics_files,
    train,
)

CALLBACKS = [
    "taglm_stop_after_schedule",
    "taglm_training_end_checkpoint",
    "test_record_learning_rate_and_weight",
]


@pytest.mark.parametrize(
    "num_epochs, trained_epochs",
    # The schedule stops training after epoch 8 (SCORES), or num_epochs after epoch 3.
    [(30, 9), (4, 4)],
    ids=["stopped by the schedule", "num_epochs reached"],
)
def test_resuming_after_the_last_epoch_trains_nothing_and_returns_the_metrics(
    tmp_path, num_epochs, trained_epochs
):
    first = train(tmp_path, SCORES, num_epochs=num_epochs, callbacks=CALLBACKS)
    assert first["metrics"]["epoch"] == trained_epochs - 1

    resumed = train(tmp_path, SCORES[trained_epochs:], num_epochs=num_epochs, callbacks=CALLBACKS)

    assert RecordLearningRateAndWeight.records == []
    assert epochs_with_metrics_files(tmp_path) == list(range(trained_epochs))
    assert resumed == first


def test_a_run_resumed_before_its_end_trains_on(tmp_path):
    uninterrupted = train(tmp_path / "uninterrupted", SCORES, callbacks=CALLBACKS)

    # Interrupted in the middle of stage 1: the checkpoint of epoch 5 says training goes on.
    train(tmp_path / "resumed", SCORES, num_epochs=6, callbacks=CALLBACKS)
    resumed = train(tmp_path / "resumed", SCORES[6:], callbacks=CALLBACKS)

    assert [record["epoch"] for record in RecordLearningRateAndWeight.records] == [6, 7, 8]
    assert resumed["final_weight"] == uninterrupted["final_weight"]
    assert resumed["metrics"]["epoch"] == uninterrupted["metrics"]["epoch"] == 8
