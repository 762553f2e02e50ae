import pytest
import torch
from allennlp.common.checks import ConfigurationError

from tests.training.callbacks.scripted_training import (
    SCORES,
    RecordLearningRateAndWeight,
    epochs_with_metrics_files,
    train,
)


def test_training_follows_the_schedule_restores_the_best_weights_and_stops(tmp_path):
    result = train(tmp_path, SCORES)
    records = RecordLearningRateAndWeight.records

    assert epochs_with_metrics_files(tmp_path) == list(range(9))
    assert [record["epoch"] for record in records] == list(range(9))
    torch.testing.assert_close(
        [record["lr"] for record in records], [0.1] * 4 + [0.01] * 2 + [0.001] * 3
    )
    weights = [record["weight"] for record in records]
    assert weights[4] == weights[2] != weights[3]
    assert result["metrics"]["best_epoch"] == 7
    assert result["final_weight"] == weights[7]


def test_without_restoring_the_weights_training_continues_from_the_last_epoch(tmp_path):
    callbacks = [
        {"type": "taglm_stop_after_schedule", "restore_best_weights": False},
        "test_record_learning_rate_and_weight",
    ]
    train(tmp_path, SCORES, callbacks=callbacks)
    weights = [record["weight"] for record in RecordLearningRateAndWeight.records]

    assert len(weights) == 9
    assert weights[4] != weights[2]


def test_recovered_training_continues_the_schedule(tmp_path):
    uninterrupted = train(tmp_path / "uninterrupted", SCORES)
    uninterrupted_records = RecordLearningRateAndWeight.records

    # Interrupted in the middle of stage 1, then resumed from the checkpoint of epoch 5.
    train(tmp_path / "resumed", SCORES, num_epochs=6)
    first_records = RecordLearningRateAndWeight.records
    resumed = train(tmp_path / "resumed", SCORES[6:])
    resumed_records = RecordLearningRateAndWeight.records

    assert epochs_with_metrics_files(tmp_path / "resumed") == list(range(9))
    assert first_records + resumed_records == uninterrupted_records
    assert resumed["final_weight"] == uninterrupted["final_weight"]


@pytest.mark.parametrize(
    "trainer_config, message",
    [
        ({"patience": 3}, "trainer.patience"),
        ({"learning_rate_scheduler": "constant"}, "taglm_step_down"),
    ],
)
def test_conflicting_trainer_config_is_a_configuration_error(tmp_path, trainer_config, message):
    with pytest.raises(ConfigurationError, match=message):
        train(tmp_path, SCORES, **trainer_config)
