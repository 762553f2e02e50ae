import io
from typing import List, Sequence

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers import LearningRateScheduler

from taglm_plugin.training.learning_rate_schedulers import TagLmStepDownScheduler


def make_optimizer(*learning_rates: float) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in learning_rates]
    return torch.optim.SGD(groups)


def run_schedule(schedule: TagLmStepDownScheduler, metrics: Sequence[float]) -> List[List[float]]:
    """Steps through `metrics` like the trainer, one step per epoch, until the schedule is
    finished; returns the learning rates set at the end of every epoch run."""
    learning_rates = []
    for metric in metrics:
        schedule.step(metric)
        learning_rates.append([group["lr"] for group in schedule.optimizer.param_groups])
        if schedule.finished:
            break
    return learning_rates


def test_constant_until_plateau_then_steps_down_and_finishes():
    schedule = TagLmStepDownScheduler(
        make_optimizer(1.0, 0.5), patience=2, factor=0.1, epochs_per_stage=2, num_stages=2
    )
    # Best at epoch 2; epochs 3 and 4 do not improve; a later best does not restart stage 0.
    metrics = [1.0, 2.0, 3.0, 2.5, 3.0, 2.0, 4.0, 1.0, 1.0, 5.0, 5.0]

    learning_rates = run_schedule(schedule, metrics)

    assert schedule.finished
    assert len(learning_rates) == 9
    expected_first_group = [1.0] * 4 + [0.1, 0.1] + [0.01] * 3
    torch.testing.assert_close([lrs[0] for lrs in learning_rates], expected_first_group)
    torch.testing.assert_close(
        [lrs[1] for lrs in learning_rates], [lr / 2 for lr in expected_first_group]
    )
    assert schedule.stage == 2


def test_paper_defaults_give_two_stages_of_five_epochs_at_lr_over_10_and_100():
    schedule = TagLmStepDownScheduler(make_optimizer(0.001), patience=1)
    metrics = [0.5, 0.6, 0.55] + [0.0] * 20

    learning_rates = run_schedule(schedule, metrics)

    assert schedule.finished
    assert len(learning_rates) == 3 + 5 + 5
    torch.testing.assert_close(
        [lrs[0] for lrs in learning_rates], [0.001] * 2 + [1e-4] * 5 + [1e-5] * 6
    )


def test_annealing_started_is_true_only_for_the_epoch_that_ends_stage_0():
    schedule = TagLmStepDownScheduler(make_optimizer(1.0), patience=1, epochs_per_stage=1)
    flags = []
    for metric in [1.0, 1.0, 1.0, 1.0]:
        schedule.step(metric)
        flags.append(schedule.annealing_started)
    assert flags == [False, True, False, False]


def test_state_dict_survives_torch_save_and_continues_the_schedule():
    metrics = [1.0, 2.0, 1.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    uninterrupted_lrs = run_schedule(
        TagLmStepDownScheduler(make_optimizer(1.0), patience=1, epochs_per_stage=2), metrics
    )

    schedule = TagLmStepDownScheduler(make_optimizer(1.0), patience=1, epochs_per_stage=2)
    first_lrs = run_schedule(schedule, metrics[:4])
    assert not schedule.finished
    state = {"optimizer": schedule.optimizer.state_dict(), "schedule": schedule.state_dict()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)  # weights_only, as allennlp's checkpointer loads it
    recovered = TagLmStepDownScheduler(make_optimizer(1.0), patience=1, epochs_per_stage=2)
    recovered.optimizer.load_state_dict(saved["optimizer"])
    recovered.load_state_dict(saved["schedule"])
    later_lrs = run_schedule(recovered, metrics[4:])

    assert recovered.finished
    assert first_lrs + later_lrs == uninterrupted_lrs
    assert recovered.last_epoch == len(uninterrupted_lrs) - 1


def test_without_validation_metric_it_is_a_configuration_error():
    schedule = TagLmStepDownScheduler(make_optimizer(1.0))
    with pytest.raises(ConfigurationError, match="validation"):
        schedule.step(None)


def test_from_params_with_the_trainer_extras():
    schedule = LearningRateScheduler.from_params(
        Params({"type": "taglm_step_down", "patience": 4, "epochs_per_stage": 3}),
        optimizer=make_optimizer(0.01),
        num_epochs=50,
        num_steps_per_epoch=10,
    )
    assert isinstance(schedule, TagLmStepDownScheduler)
    assert len(run_schedule(schedule, [1.0] * 20)) == 1 + 4 + 3 + 3
    assert schedule.finished


@pytest.mark.parametrize(
    "key, value",
    [("patience", 0), ("factor", 1.0), ("factor", 0.0), ("epochs_per_stage", 0), ("num_stages", 0)],
)
def test_bad_config_is_a_configuration_error_naming_the_key(key, value):
    with pytest.raises(ConfigurationError, match=key):
        TagLmStepDownScheduler(make_optimizer(1.0), **{key: value})
