"""
`allennlp train` with `"distributed": {"cuda_devices": [-1, -1]}`: two CPU workers (torch DDP
over gloo) end with the metrics and weights of one process trained on the same batches, and a
distributed run killed mid-epoch resumes with `--recover` and ends like an uninterrupted one.

Why one process reaches the same weights: each worker reads every second instance (allennlp's
sharding; `taglm_lm_cache` takes every second batch) and makes its own batches, and DDP averages
the two workers' gradients before each optimizer step. One process with
`num_gradient_accumulation_steps: 2`, given the two workers' batches of each step one after the
other, sums the gradients of the two batches' losses halved: the same numbers. The metrics sum
their counts over the workers, so they are the one process's too; the losses are means of
float32 sums (allennlp reduces them in float32), equal to float32 rounding.

What differs unless switched off here: the workers share torch's seed, so they draw the same
dropout masks (and the same sampled-softmax words), where one process draws new ones for the
second batch of a step; the runs compared here have no dropout and the LM a full softmax.
"""
import json
import math
import os
import signal
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch

from tests.conftest import FIXTURES
from tests.reliability.training_runs import (
    comparable_metrics,
    finish,
    start_training,
    wait_for_file,
)

TAGGER_CONFIG = FIXTURES / "tagger" / "baseline_tagger.jsonnet"
TAGGER_TRAIN = FIXTURES / "tagger" / "conll2003" / "eng.train"
LM_CONFIG = Path(__file__).resolve().parents[2] / "training_configs" / "lm" / "forward.jsonnet"

DISTRIBUTED = {"distributed": {"cuda_devices": [-1, -1]}}
# Batches of 2 sentences per worker: 8 training sentences give each worker 2 per epoch. The
# learning rate makes 2 epochs find some dev entities (F1 above 0: the counts compared matter).
TAGGER_OVERRIDES = {
    "trainer.optimizer.lr": 0.2,
    "model.dropout": 0.0,
    "model.encoder.dropout": 0.0,
    "data_loader.batch_size": 2,
    "validation_data_loader.batch_size": 2,
    "trainer.checkpointer": {"type": "taglm_crash_safe"},
    "trainer.callbacks": ["taglm_torch_rng_checkpoint"],
}
# The small LM on 21 training and 11 held-out sentences, batches of 6: 4 and 2 batches a pass,
# so the workers' shares need no halved batch.
LM_ENVIRONMENT = {
    "LM_SIZE": "small",
    "LM_TRAIN_DATA": str(FIXTURES / "lm" / "enwiki_sample.tar.gz"),
}
LM_OVERRIDES = {
    "dataset_reader.held_out_every": 3,
    "validation_dataset_reader.held_out_every": 3,
    "data_loader.batch_size": 6,
    "validation_data_loader.batch_size": 6,
    "model.softmax": "full",
    "model.num_samples": None,
}
# Relative tolerances of the metrics that are not sums of integer counts: losses (float32
# sums), perplexities (float64 sums in another order).
TOLERANCES = {"loss": 1e-6, "perplexity": 1e-12}


def train(serialization_dir: Path, overrides: Dict[str, Any], *options: str, **kwargs) -> None:
    finish(
        start_training(serialization_dir, "-o", json.dumps(overrides), *options, **kwargs),
        serialization_dir,
    )


def assert_same_metrics(run: Path, reference: Path) -> None:
    metrics, expected = comparable_metrics(run), comparable_metrics(reference)
    assert sorted(metrics) == sorted(expected)
    for key, value in expected.items():
        tolerance = next((rel for name, rel in TOLERANCES.items() if key.endswith(name)), None)
        if tolerance is None:
            assert metrics[key] == value, key
        else:
            assert metrics[key] == pytest.approx(value, rel=tolerance), key


def assert_same_weights(run: Path, reference: Path) -> None:
    weights, expected = [
        torch.load(directory / "best.th", weights_only=True) for directory in (run, reference)
    ]
    assert sorted(weights) == sorted(expected)
    for name, tensor in expected.items():
        torch.testing.assert_close(weights[name], tensor, rtol=1e-5, atol=1e-6, msg=name)


def assert_both_workers_trained_every_batch(run: Path) -> None:
    for rank in range(2):
        log = (run / f"out_worker{rank}.log").read_text()
        assert f"Worker {rank} completed its entire epoch (training)." in log
        assert "finishing training early" not in log  # allennlp drops the batches left over


def conll_sentences(path: Path) -> List[str]:
    blocks = [block for block in path.read_text().split("\n\n") if block.strip()]
    return [block for block in blocks if not block.startswith("-DOCSTART-")]


def one_process_order(sentences: List[str], batch_size: int, world_size: int) -> List[str]:
    """`sentences` in the order of the workers' batches: each step's batch of worker 0, 1, ..."""
    shards = [sentences[rank::world_size] for rank in range(world_size)]
    steps = math.ceil(len(shards[0]) / batch_size)
    return [
        sentence
        for step in range(steps)
        for shard in shards
        for sentence in shard[step * batch_size : (step + 1) * batch_size]
    ]


@pytest.fixture(scope="module")
def distributed_tagger(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("distributed") / "tagger"
    train(directory, {**TAGGER_OVERRIDES, **DISTRIBUTED}, config=TAGGER_CONFIG)
    return directory


def test_distributed_tagger_ends_like_one_process_on_the_same_batches(distributed_tagger, tmp_path):
    sentences = conll_sentences(TAGGER_TRAIN)
    assert len(sentences) == 8
    train_file = tmp_path / "train.txt"
    train_file.write_text("\n\n".join(one_process_order(sentences, 2, 2)) + "\n")
    one_process = tmp_path / "one_process"
    overrides = {
        **TAGGER_OVERRIDES,
        "train_data_path": str(train_file),
        # The distributed run's vocabulary: the one process reads the sentences in another
        # order, which would number words of equal counts differently.
        "vocabulary": {"type": "from_files", "directory": str(distributed_tagger / "vocabulary")},
        "trainer.num_gradient_accumulation_steps": 2,
    }
    train(one_process, overrides, config=TAGGER_CONFIG)
    assert_both_workers_trained_every_batch(distributed_tagger)
    assert_same_metrics(distributed_tagger, one_process)
    assert_same_weights(distributed_tagger, one_process)
    assert comparable_metrics(distributed_tagger)["validation_f1-measure-overall"] > 0


def test_distributed_tagger_killed_mid_epoch_recovers(distributed_tagger, tmp_path):
    """Killed (the whole process group: the command and its workers) during epoch 1."""
    interrupted = tmp_path / "interrupted"
    overrides = {**TAGGER_OVERRIDES, **DISTRIBUTED, "trainer.num_epochs": 2}
    process = start_training(interrupted, "-o", json.dumps(overrides), config=TAGGER_CONFIG)
    # Checkpoint e1 is complete once best.th (epoch 0 is the best so far) is written.
    wait_for_file(interrupted / "best.th", process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (interrupted / "metrics_epoch_1.json").exists()
    train(interrupted, overrides, "--recover", config=TAGGER_CONFIG)
    assert_same_metrics(interrupted, distributed_tagger)
    assert_same_weights(interrupted, distributed_tagger)


def test_distributed_lm_ends_like_one_process_on_the_same_batches(tmp_path):
    """`CUDA_DEVICES=-1,-1` switches `distributed` on in the LM config."""
    environment = {**LM_ENVIRONMENT, "LM_CACHE_DIR": str(tmp_path / "cache")}
    distributed, one_process = tmp_path / "distributed", tmp_path / "one_process"
    train(distributed, LM_OVERRIDES, config=LM_CONFIG,
          environment={**environment, "CUDA_DEVICES": "-1,-1"})  # fmt: skip
    overrides = {**LM_OVERRIDES, "trainer.num_gradient_accumulation_steps": 2}
    train(one_process, overrides, config=LM_CONFIG, environment=environment)
    assert_both_workers_trained_every_batch(distributed)
    # The text is tokenized into the cache once, by the main process (allennlp builds the
    # vocabulary there, from the loaders' instances); the workers read the cache.
    logs = [(distributed / name).read_text() for name in ("out.log", "out_worker0.log",
                                                          "out_worker1.log")]  # fmt: skip
    assert [log.count("Tokenizing ") for log in logs] == [1, 0, 0]
    assert all("Reading the token cache" in log for log in logs[1:])
    assert json.loads((distributed / "config.json").read_text())["distributed"] == {
        "cuda_devices": [-1, -1]
    }
    assert comparable_metrics(distributed)["epoch"] == 1
    assert_same_metrics(distributed, one_process)
    assert_same_weights(distributed, one_process)
