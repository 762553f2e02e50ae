"""
Training with a validation score that the test scripts, for the tests of the callbacks that
act on the score (the `taglm_step_down` schedule, stopping, recovering).
"""
from pathlib import Path
from typing import Any, Dict, List, Sequence

import torch
from allennlp.common import Params
from allennlp.data import Instance, Vocabulary
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.data.fields import TensorField
from allennlp.models import Model
from allennlp.training import Trainer
from allennlp.training.callbacks import TrainerCallback

import taglm_plugin  # noqa: F401  (registers the scheduler and the callbacks)


class ScriptedScoreRegressor(Model):
    """
    Fits `y = weight * x` by gradient descent, so its weight changes every batch, and reports
    as validation `score` the next value of `scores` at the end of every validation pass, so
    that the test decides when the development score stops improving.
    """

    def __init__(self, scores: Sequence[float]) -> None:
        super().__init__(Vocabulary())
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self._scores = list(scores)
        self._validation_passes = 0

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"loss": ((self.weight * x - y) ** 2).mean()}

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        if self.training or not reset:
            return {}
        score = self._scores[self._validation_passes]
        self._validation_passes += 1
        return {"score": score}


@TrainerCallback.register("test_record_learning_rate_and_weight")
class RecordLearningRateAndWeight(TrainerCallback):
    """Records, at the end of every epoch, the learning rate and the model weight."""

    records: List[Dict[str, Any]] = []

    def on_epoch(self, trainer, metrics, epoch, is_primary=True, **kwargs) -> None:
        RecordLearningRateAndWeight.records.append(
            {
                "epoch": epoch,
                "lr": trainer.optimizer.param_groups[0]["lr"],
                "weight": trainer.model.weight.item(),
            }
        )


# Best score at epoch 2, no improvement in epochs 3 and 4 (patience 2): the learning rate drops
# after epoch 4 and the weights of epoch 2 come back; stage 1 is epochs 5-6, stage 2 epochs
# 7-8, training stops after epoch 8. Epoch 7 is the best epoch in the end.
SCORES = [1.0, 2.0, 3.0, 2.5, 3.0, 2.0, 2.1, 3.5, 1.0] + [9.0] * 5


def train(
    serialization_dir: Path, scores: Sequence[float], num_epochs: int = 30, **trainer_config
) -> Dict[str, Any]:
    RecordLearningRateAndWeight.records = []
    instances = [
        Instance({"x": TensorField(torch.tensor([1.0])), "y": TensorField(torch.tensor([2.0]))})
        for _ in range(2)
    ]
    vocab = Vocabulary()
    model = ScriptedScoreRegressor(scores)
    config = {
        "optimizer": {"type": "sgd", "lr": 0.1},
        "num_epochs": num_epochs,
        "validation_metric": "+score",
        "learning_rate_scheduler": {
            "type": "taglm_step_down",
            "patience": 2,
            "epochs_per_stage": 2,
        },
        "callbacks": ["taglm_stop_after_schedule", "test_record_learning_rate_and_weight"],
        **trainer_config,
    }
    trainer = Trainer.from_params(
        Params(config),
        model=model,
        serialization_dir=str(serialization_dir),
        data_loader=SimpleDataLoader(instances, batch_size=1, vocab=vocab),
        validation_data_loader=SimpleDataLoader(instances, batch_size=2, vocab=vocab),
    )
    metrics = trainer.train()
    return {"metrics": metrics, "final_weight": model.weight.item()}


def epochs_with_metrics_files(serialization_dir: Path) -> List[int]:
    paths = serialization_dir.glob("metrics_epoch_*.json")
    return sorted(int(path.stem[len("metrics_epoch_") :]) for path in paths)
