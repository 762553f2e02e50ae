import gc
from typing import Dict

import torch
from allennlp.common import Params
from allennlp.data import Instance, Vocabulary
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.data.fields import TensorField
from allennlp.models import Model
from allennlp.training import GradientDescentTrainer
from allennlp.training.callbacks import TrainerCallback

from taglm_plugin.training.callbacks import GcFreezeCallback


class FreezeCountRecorder(TrainerCallback):
    def __init__(self, serialization_dir: str) -> None:
        super().__init__(serialization_dir)
        self.freeze_counts = []

    def on_epoch(self, trainer, metrics, epoch, is_primary=True, **kwargs) -> None:
        self.freeze_counts.append(gc.get_freeze_count())


class Regressor(Model):
    def __init__(self) -> None:
        super().__init__(Vocabulary())
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:  # type: ignore
        return {"loss": ((self.weight - x) ** 2).mean()}


def test_objects_alive_at_the_start_are_frozen_during_training_only(tmp_path):
    instances = [Instance({"x": TensorField(torch.tensor([float(i)]))}) for i in range(4)]
    model = Regressor()
    recorder = FreezeCountRecorder(str(tmp_path))
    trainer = GradientDescentTrainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        SimpleDataLoader(instances, batch_size=2),
        num_epochs=2,
        serialization_dir=str(tmp_path),
        callbacks=[GcFreezeCallback(str(tmp_path)), recorder],
    )
    assert gc.get_freeze_count() == 0
    trainer.train()
    # Everything alive at the start (at least the instances, model and trainer) was frozen.
    assert len(recorder.freeze_counts) == 2
    assert min(recorder.freeze_counts) > len(instances) + 3
    assert gc.get_freeze_count() == 0


def test_registered_name(tmp_path):
    callback = TrainerCallback.from_params(
        Params({"type": "taglm_gc_freeze"}), serialization_dir=str(tmp_path)
    )
    assert isinstance(callback, GcFreezeCallback)
