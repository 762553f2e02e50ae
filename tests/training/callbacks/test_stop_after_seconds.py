import itertools
import socket
from types import SimpleNamespace
from typing import Dict

import pytest
import torch
import torch.multiprocessing as mp
from allennlp.common import Params
from allennlp.common.testing.distributed_test import init_process
from allennlp.data import Instance, Vocabulary
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.data.fields import TensorField
from allennlp.models import Model
from allennlp.training import GradientDescentTrainer
from allennlp.training.callbacks import TrainerCallback
from allennlp.training.metric_tracker import MetricTracker

from taglm_plugin.training.callbacks import stop_after_seconds
from taglm_plugin.training.callbacks.stop_after_seconds import StopAfterSecondsCallback


class Regressor(Model):
    def __init__(self) -> None:
        super().__init__(Vocabulary())
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:  # type: ignore
        return {"loss": ((self.weight * x - 2 * x) ** 2).mean()}


def train(tmp_path, seconds: float, num_epochs: int = 10) -> Dict:
    instances = [Instance({"x": TensorField(torch.tensor([float(i)]))}) for i in range(1, 5)]
    loader = SimpleDataLoader(instances, batch_size=2)
    validation_loader = SimpleDataLoader(instances, batch_size=2)
    model = Regressor()
    loader.index_with(model.vocab)
    validation_loader.index_with(model.vocab)
    callback = TrainerCallback.from_params(
        Params({"type": "taglm_stop_after_seconds", "seconds": seconds}),
        serialization_dir=str(tmp_path),
    )
    trainer = GradientDescentTrainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.01),
        loader,
        validation_data_loader=validation_loader,
        num_epochs=num_epochs,
        serialization_dir=str(tmp_path),
        callbacks=[callback],
    )
    return trainer.train()


@pytest.fixture
def epochs_of_ten_seconds(monkeypatch):
    """The callback's clock reads 0 at the start of training and 10 s more after every epoch."""
    clock = itertools.count(0.0, 10.0)
    monkeypatch.setattr(stop_after_seconds.time, "monotonic", lambda: next(clock))


def test_stops_before_the_next_epoch_would_end_past_the_budget(tmp_path, epochs_of_ten_seconds):
    # After epoch 0: 10 s used, one more epoch ends at 20 s <= 25 s. After epoch 1: 30 s > 25 s.
    metrics = train(tmp_path, seconds=25.0)
    assert metrics["epoch"] == 1
    assert (tmp_path / "best.th").is_file()


def test_no_budget_trains_every_epoch(tmp_path, epochs_of_ten_seconds):
    assert train(tmp_path, seconds=0.0, num_epochs=4)["epoch"] == 3


def test_registered_with_its_budget():
    callback = TrainerCallback.from_params(
        Params({"type": "taglm_stop_after_seconds", "seconds": 60}), serialization_dir=None
    )
    assert isinstance(callback, StopAfterSecondsCallback)


def stop_on_two_workers(global_rank: int, world_size: int, gpu_id: int) -> None:
    """Worker 0's epochs take 10 s, worker 1's 1 s; a budget of 25 s."""
    clock = itertools.count(0.0, 10.0 if global_rank == 0 else 1.0)
    stop_after_seconds.time.monotonic = lambda: next(clock)
    trainer = SimpleNamespace(_metric_tracker=MetricTracker("-loss"))
    callback = StopAfterSecondsCallback(serialization_dir=None, seconds=25.0)
    callback.on_start(trainer)
    callback.on_epoch(trainer, metrics={}, epoch=0)
    assert trainer._metric_tracker._patience is None
    # Worker 0 alone would stop now (30 s after one more epoch), worker 1 not (3 s).
    callback.on_epoch(trainer, metrics={}, epoch=1)
    assert trainer._metric_tracker._patience == 0


def test_distributed_workers_stop_after_the_same_epoch():
    mp.start_processes(
        init_process,
        args=(2, [-1, -1], stop_on_two_workers, (), {}, "127.0.0.1", free_port()),
        nprocs=2,
        start_method="fork",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
