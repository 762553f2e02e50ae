"""
`taglm_standalone_best_weights`: `best.th` gets back the frozen tensors that checkpoints leave
out, and `--recover` refuses frozen tensors that differ from the interrupted run's. (End to
end, with `allennlp train` and a kill: tests/reliability/test_interrupted_training.py.)
"""
import os
from typing import List

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from taglm_plugin.training.callbacks.standalone_best_weights import (
    StandaloneBestWeightsCallback,
)


class Frozen(torch.nn.Module):
    """A module whose `table` is read from a file when it is built for training."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.register_buffer("table", torch.full((3, 2), value))
        self.weight = torch.nn.Parameter(torch.zeros(2))

    def reloaded_state(self) -> List[str]:
        return ["table"]


class Trainer:
    def __init__(self, model: torch.nn.Module, best_weights_path) -> None:
        self.model = model
        self._best = best_weights_path

    def get_best_weights_path(self):
        return None if self._best is None else str(self._best)


def model(value: float = 0.5) -> torch.nn.Module:
    return torch.nn.Sequential(Frozen(value))


def test_best_weights_get_the_frozen_tensors_back(tmp_path):
    trained = model()
    best = tmp_path / "best.th"
    checkpoint = tmp_path / "model_state_e1_b0.th"
    torch.save({"0.weight": torch.ones(2)}, checkpoint)  # as the checkpointer leaves it
    os.link(checkpoint, best)
    callback = StandaloneBestWeightsCallback(str(tmp_path))
    callback.on_start(Trainer(trained, best))
    trained[0].weight.data.fill_(9.0)  # the model now holds other weights than best.th's
    callback.on_end(Trainer(trained, best))
    written = torch.load(best, weights_only=True)
    assert written.keys() == {"0.weight", "0.table"}
    assert torch.equal(written["0.weight"], torch.ones(2))  # best.th's own
    assert torch.equal(written["0.table"], torch.full((3, 2), 0.5))
    # The checkpoint best.th was a hard link of is as it was.
    assert torch.load(checkpoint, weights_only=True).keys() == {"0.weight"}
    assert not list(tmp_path.glob("*.partial"))
    # Without best.th (no epoch finished) it writes nothing.
    StandaloneBestWeightsCallback(str(tmp_path)).on_end(Trainer(trained, None))


def test_recover_refuses_frozen_tensors_that_changed(tmp_path):
    interrupted = StandaloneBestWeightsCallback(str(tmp_path))
    interrupted.on_start(Trainer(model(0.5), None))
    state = interrupted.state_dict()
    assert list(state["digests"]) == ["0.table"]

    resumed = StandaloneBestWeightsCallback(str(tmp_path))
    resumed.load_state_dict(state)
    resumed.on_start(Trainer(model(0.5), None))  # the same files: resumes

    replaced = StandaloneBestWeightsCallback(str(tmp_path))
    replaced.load_state_dict(state)
    with pytest.raises(ConfigurationError, match="frozen tensor 0.table .* differs"):
        replaced.on_start(Trainer(model(0.25), None))
