import json
import logging

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.callbacks import TrainerCallback

from taglm_plugin.training.callbacks import token_throughput
from taglm_plugin.training.callbacks.token_throughput import TokenThroughputCallback


def batch(callback, num_targets, is_training=True, key="num_targets"):
    callback.on_batch(
        trainer=None,
        batch_inputs=[{}],
        batch_outputs=[{key: torch.tensor(n)} for n in num_targets],
        batch_metrics={},
        epoch=0,
        batch_number=1,
        is_training=is_training,
    )


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(token_throughput.time, "monotonic", lambda: now[0])
    return now


def logged(caplog):
    """The callback's messages (an earlier `allennlp train` in the same process leaves the
    root logger at INFO, and the construction logs its parameters)."""
    return [r.getMessage() for r in caplog.records if r.name == token_throughput.__name__]


def test_counts_training_tokens_and_logs_tokens_per_second(clock, caplog):
    callback = TrainerCallback.from_params(
        Params({"type": "taglm_token_throughput", "log_interval_seconds": 30}),
        serialization_dir=None,
    )
    callback.on_start(trainer=None)
    with caplog.at_level(logging.INFO, logger=token_throughput.__name__):
        clock[0] += 10
        batch(callback, [300, 200])  # two batches of one gradient-accumulation group
        batch(callback, [1000], is_training=False)  # validation batches do not count
        assert logged(caplog) == []
        clock[0] += 30
        batch(callback, [500])
    assert callback.tokens_seen == 1000
    assert callback.tokens_per_second() == pytest.approx(1000 / 40)
    assert logged(caplog) == ["Training tokens seen: 1000, 25 tokens/s"]


def test_total_continues_from_a_checkpoint(clock):
    callback = TokenThroughputCallback(serialization_dir=None)
    callback.on_start(trainer=None)
    batch(callback, [70])
    resumed = TokenThroughputCallback(serialization_dir=None)
    resumed.load_state_dict(callback.state_dict())
    resumed.on_start(trainer=None)
    clock[0] += 2
    batch(resumed, [30])
    assert resumed.tokens_seen == 100
    assert resumed.tokens_per_second() == pytest.approx(30 / 2)


def test_missing_output_is_a_configuration_error():
    callback = TokenThroughputCallback(serialization_dir=None, output_key="num_words")
    callback.on_start(trainer=None)
    with pytest.raises(ConfigurationError, match="no 'num_words'"):
        batch(callback, [3])


def test_writes_the_totals_of_every_epoch(clock, tmp_path):
    callback = TokenThroughputCallback(serialization_dir=str(tmp_path))
    callback.on_start(trainer=None)
    clock[0] += 4
    batch(callback, [200])
    callback.on_epoch(trainer=None, metrics={}, epoch=0)
    clock[0] += 4
    batch(callback, [600])
    callback.on_epoch(trainer=None, metrics={}, epoch=1)
    callback.on_epoch(trainer=None, metrics={}, epoch=2, is_primary=False)
    assert json.loads((tmp_path / "throughput_epoch_0.json").read_text()) == {
        "epoch": 0,
        "tokens_seen": 200,
        "tokens_per_second": 50.0,
    }
    assert json.loads((tmp_path / "throughput_epoch_1.json").read_text())["tokens_seen"] == 800
    assert not (tmp_path / "throughput_epoch_2.json").exists()
