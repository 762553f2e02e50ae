import torch

from tests.reliability.training_runs import comparable_metrics, finish, start_training


def test_the_same_config_and_seed_train_the_same_model_twice(tmp_path):
    runs = [tmp_path / "first", tmp_path / "second"]
    processes = [start_training(run) for run in runs]  # side by side, to save time
    for process, run in zip(processes, runs):
        finish(process, run)

    first, second = (comparable_metrics(run) for run in runs)
    assert first == second
    assert "validation_f1-measure-overall" in first and first["epoch"] >= 1
    weights = [torch.load(run / "best.th", weights_only=True) for run in runs]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
