"""
Test-only registrations for the distributed training tests, imported into `allennlp train`
(and so into its workers) with `--include-package tests.reliability.distributed_plugins`:

* the model `test_scripted_score_tagger`: a `taglm_tagger` that also reports the validation
  metric `scripted_score`, epoch N's being `scripted_scores[N]` (the same on every worker), so
  that the test decides when the `taglm_step_down` schedule steps down;
* the callback `test_record_epochs`: appends, after every epoch, the epoch, the learning rate
  and a sum of the weights to `epochs_rank{N}.jsonl` in the serialization directory, one file
  per worker (rank 0 without distributed training).
"""
import json
import os
from typing import Any, Dict, List

import torch
from allennlp.models import Model
from allennlp.training.callbacks.callback import TrainerCallback

import taglm_plugin  # noqa: F401  (registers taglm_tagger)

RECORDS_PATTERN = "epochs_rank{}.jsonl"


def rank() -> int:
    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


@Model.register("test_scripted_score_tagger")
class ScriptedScoreTagger(Model.by_name("taglm_tagger")):  # type: ignore[misc]
    def __init__(self, scripted_scores: List[float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.scripted_scores = list(scripted_scores)
        self.epoch = 0  # set by test_record_epochs

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = super().get_metrics(reset)
        if not self.training:
            metrics["scripted_score"] = self.scripted_scores[self.epoch]
        return metrics


@TrainerCallback.register("test_record_epochs")
class RecordEpochs(TrainerCallback):
    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        # The first epoch this run trains (after --recover, the first one not checkpointed).
        trainer.model.epoch = trainer._start_after_epochs_completed

    def on_epoch(
        self, trainer, metrics: Dict[str, Any], epoch: int, is_primary: bool = True, **kwargs
    ) -> None:
        record = {
            "epoch": epoch,
            "lr": trainer.optimizer.param_groups[0]["lr"],
            "weight_sum": sum(p.double().sum().item() for p in trainer.model.parameters()),
        }
        path = os.path.join(self.serialization_dir, RECORDS_PATTERN.format(rank()))
        with open(path, "a") as records:
            records.write(json.dumps(record) + "\n")
        trainer.model.epoch = epoch + 1
