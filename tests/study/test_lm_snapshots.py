"""
`taglm_lm_snapshots` (`taglm_plugin.study.lm_snapshots`): which epoch's weights it keeps for
which fraction of the LM budget, driven here epoch by epoch as allennlp's trainer calls it.
"""
import datetime
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List

import pytest
import torch
from allennlp.common import Params
from allennlp.training.callbacks.callback import TrainerCallback

from taglm_plugin.study.lm_snapshots import LmSnapshotsCallback
from taglm_plugin.study.plan import snapshot_record, snapshot_weights


def train(callback: LmSnapshotsCallback, epoch_end_seconds: List[float], first_epoch: int = 0,
          is_primary: bool = True) -> None:  # fmt: skip
    """Calls `on_epoch` as the trainer does, after epochs that end `epoch_end_seconds` after
    training started; the model's one weight is the epoch's number."""
    model = torch.nn.Linear(1, 1, bias=False)
    for epoch, seconds in enumerate(epoch_end_seconds, first_epoch):
        torch.nn.init.constant_(model.weight, epoch)
        duration = str(datetime.timedelta(seconds=seconds))
        callback.on_epoch(SimpleNamespace(model=model), {"training_duration": duration}, epoch,
                          is_primary=is_primary)  # fmt: skip


def kept(directory: Path, fractions: List[float]) -> Dict[float, int]:
    """`{fraction: epoch}` of the snapshots on disk, after checking that each record's epoch is
    its weights' epoch."""
    epochs = {}
    for fraction in fractions:
        record = json.loads(snapshot_record(directory, fraction).read_text())
        weights = torch.load(snapshot_weights(directory, fraction), weights_only=True)
        assert record["fraction"] == fraction
        assert weights["weight"].item() == record["epoch"]
        epochs[fraction] = record["epoch"]
    return epochs


def test_the_last_epoch_within_each_fraction_of_the_time_budget(tmp_path):
    fractions = [0.25, 0.5, 0.7]
    callback = LmSnapshotsCallback(str(tmp_path), fractions, seconds=100.0, num_epochs=1000)
    # Validations at 20, 40, 60, 80 and 95 s of a 100-s budget.
    train(callback, [20, 40, 60, 80, 95])
    assert kept(tmp_path, fractions) == {0.25: 0, 0.5: 1, 0.7: 2}
    assert not list(tmp_path.glob("*.tmp"))


def test_the_first_epoch_when_every_epoch_ends_past_the_fraction(tmp_path):
    callback = LmSnapshotsCallback(str(tmp_path), [0.1], seconds=100.0, num_epochs=1000)
    train(callback, [30, 60, 90])
    assert kept(tmp_path, [0.1]) == {0.1: 0}


def test_without_a_time_budget_the_fraction_is_of_the_epochs(tmp_path):
    callback = LmSnapshotsCallback(str(tmp_path), [0.5, 0.6], seconds=0.0, num_epochs=4)
    train(callback, [1000, 2000, 3000, 4000])
    assert kept(tmp_path, [0.5, 0.6]) == {0.5: 1, 0.6: 1}


def test_a_resumed_training_keeps_the_snapshots_of_fractions_it_passed(tmp_path):
    callback = LmSnapshotsCallback(str(tmp_path), [0.3, 0.8], seconds=100.0, num_epochs=1000)
    train(callback, [20, 40])
    assert kept(tmp_path, [0.3, 0.8]) == {0.3: 0, 0.8: 1}
    # `--recover`: a new callback, epochs 2 and 3, whose training_duration starts again.
    resumed = LmSnapshotsCallback(str(tmp_path), [0.3, 0.8], seconds=100.0, num_epochs=1000)
    train(resumed, [35, 90], first_epoch=2)
    assert kept(tmp_path, [0.3, 0.8]) == {0.3: 0, 0.8: 2}


def test_only_the_primary_writes(tmp_path):
    callback = LmSnapshotsCallback(str(tmp_path), [0.5], seconds=100.0, num_epochs=1000)
    train(callback, [20], is_primary=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5])
def test_a_fraction_out_of_the_budget(tmp_path, fraction):
    with pytest.raises(ValueError, match="fractions must be in"):
        LmSnapshotsCallback(str(tmp_path), [0.5, fraction], seconds=100.0, num_epochs=10)


def test_registered_with_its_config_keys(tmp_path):
    params = Params({"type": "taglm_lm_snapshots", "fractions": [0.5], "seconds": 60,
                     "num_epochs": 3})  # fmt: skip
    callback = TrainerCallback.from_params(params, serialization_dir=str(tmp_path))
    assert isinstance(callback, LmSnapshotsCallback)
