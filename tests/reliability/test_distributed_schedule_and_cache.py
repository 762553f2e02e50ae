"""
Distributed training (two CPU workers over gloo, as in test_distributed_training.py) with the
parts that decide or keep state per worker:

* the `taglm_step_down` schedule with `taglm_stop_after_schedule`: every worker steps down,
  restores the best weights and stops after the same epoch, as one process does;
* `taglm_torch_rng_checkpoint`: a run with dropout killed mid-epoch and resumed with
  `--recover` draws the dropout masks of the uninterrupted run on every worker (each worker's
  generator has its own state: the workers' batches differ in size);
* the LM-state cache of `frozen_bilm`: per worker in memory, one LMDB store for both, the
  same training as without the cache;
* the end of a worker: no thread of its gloo process group is left when the interpreter
  finalizes (allennlp never destroys the group; `taglm_plugin.process_setup` does, at exit).
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import lmdb
import pytest

from tests.bilm.tiny_bilms import (
    tiny_language_model_config,
    write_tiny_language_model,
)
from tests.conftest import FIXTURES, REPO_ROOT
from tests.reliability.distributed_plugins import RECORDS_PATTERN
from tests.reliability.test_distributed_training import (
    DISTRIBUTED,
    TAGGER_CONFIG,
    TAGGER_OVERRIDES,
    TAGGER_TRAIN,
    assert_both_workers_trained_every_batch,
    assert_same_metrics,
    assert_same_weights,
    conll_sentences,
    one_process_order,
    train,
)
from tests.reliability.training_runs import (
    ENVIRONMENT,
    comparable_metrics,
    start_training,
    wait_for_file,
)

PLUGINS = ("--include-package", "tests.reliability.distributed_plugins")
TAGGER_DEV = FIXTURES / "tagger" / "conll2003" / "eng.testa"
TAGLM_CONFIG = FIXTURES / "tagger" / "taglm_tagger.jsonnet"

# Epoch 0 is the best so far, epoch 1 is worse (patience 1): the learning rate drops tenfold
# after epoch 1, which gets epoch 0's weights back; stage 1 is epoch 2 (the best epoch in the
# end), after which the schedule is finished and training stops, well before num_epochs.
SCRIPTED_SCORES = [1.0, 0.5, 2.0] + [0.0] * 5
SCHEDULED_OVERRIDES = {
    **TAGGER_OVERRIDES,
    "model.type": "test_scripted_score_tagger",
    "model.scripted_scores": SCRIPTED_SCORES,
    # Dropout on: the resumed run must draw the uninterrupted run's masks.
    "model.dropout": 0.25,
    "model.encoder.dropout": 0.25,
    "trainer.num_epochs": 8,
    "trainer.validation_metric": "+scripted_score",
    "trainer.learning_rate_scheduler": {
        "type": "taglm_step_down",
        "patience": 1,
        "epochs_per_stage": 1,
        "num_stages": 1,
    },
    "trainer.callbacks": [
        "taglm_torch_rng_checkpoint",
        "taglm_stop_after_schedule",
        "test_record_epochs",
    ],
}


def records(run: Path, rank: int) -> List[Dict]:
    lines = (run / RECORDS_PATTERN.format(rank)).read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory) -> Path:
    """The 2-worker run of the schedule, uninterrupted."""
    directory = tmp_path_factory.mktemp("scheduled") / "distributed"
    train(directory, {**SCHEDULED_OVERRIDES, **DISTRIBUTED}, *PLUGINS, config=TAGGER_CONFIG)
    return directory


def test_every_worker_follows_the_schedule_of_one_process(scheduled, tmp_path):
    worker_records = [records(scheduled, rank) for rank in range(2)]
    assert worker_records[0] == worker_records[1]  # DDP keeps the weights equal too
    assert [record["epoch"] for record in worker_records[0]] == [0, 1, 2]
    assert [record["lr"] for record in worker_records[0]] == pytest.approx([0.2, 0.02, 0.02])
    # Both workers restored epoch 0's weights when the learning rate dropped.
    assert worker_records[0][1]["weight_sum"] == worker_records[0][0]["weight_sum"]
    for rank in range(2):
        log = (scheduled / f"out_worker{rank}.log").read_text()
        assert "learning rate stage 1" in log
        assert "The learning rate schedule is finished: stopping after epoch 2" in log
    metrics = comparable_metrics(scheduled)
    assert (metrics["epoch"], metrics["best_epoch"]) == (2, 2)
    assert not (scheduled / "metrics_epoch_3.json").exists()

    # One process on the same batches (the dropout masks differ: not the weights).
    train_file = tmp_path / "train.txt"
    train_file.write_text("\n\n".join(one_process_order(conll_sentences(TAGGER_TRAIN), 2, 2)))
    one_process = tmp_path / "one_process"
    overrides = {
        **SCHEDULED_OVERRIDES,
        "train_data_path": str(train_file),
        "vocabulary": {"type": "from_files", "directory": str(scheduled / "vocabulary")},
        "trainer.num_gradient_accumulation_steps": 2,
    }
    train(one_process, overrides, *PLUGINS, config=TAGGER_CONFIG)
    expected = [{key: r[key] for key in ("epoch", "lr")} for r in records(one_process, 0)]
    assert [{key: r[key] for key in ("epoch", "lr")} for r in worker_records[0]] == expected
    assert comparable_metrics(one_process)["epoch"] == 2


def test_killed_and_recovered_workers_draw_the_uninterrupted_random_numbers(scheduled, tmp_path):
    """Killed (the command and its workers) during epoch 1, resumed from the end of epoch 0."""
    interrupted = tmp_path / "interrupted"
    overrides = {**SCHEDULED_OVERRIDES, **DISTRIBUTED}
    process = start_training(interrupted, "-o", json.dumps(overrides), *PLUGINS,
                             config=TAGGER_CONFIG)  # fmt: skip
    wait_for_file(interrupted / "best.th", process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (interrupted / "metrics_epoch_1.json").exists()
    train(interrupted, overrides, "--recover", *PLUGINS, config=TAGGER_CONFIG)
    for rank in range(2):
        resumed, expected = records(interrupted, rank), records(scheduled, rank)
        assert [record["epoch"] for record in resumed] == [0, 1, 2]
        for record, expected_record in zip(resumed, expected):
            assert record["lr"] == pytest.approx(expected_record["lr"])
            assert record["weight_sum"] == pytest.approx(expected_record["weight_sum"], rel=1e-6)
    assert_same_metrics(interrupted, scheduled)
    assert_same_weights(interrupted, scheduled)


@pytest.fixture(scope="module")
def tiny_lm_environment(tmp_path_factory) -> Dict[str, str]:
    """The environment variables taglm_tagger.jsonnet reads, for two tiny character LMs."""
    directory = tmp_path_factory.mktemp("tiny_lms")
    archives = {
        direction: write_tiny_language_model(
            directory / direction, tiny_language_model_config(direction), seed=seed
        )[0]
        for seed, direction in enumerate(("forward", "backward"))
    }
    return {
        "FORWARD_LM": archives["forward"],
        "BACKWARD_LM": archives["backward"],
        "LM_STATE_DIM": "5",
    }


def test_distributed_taglm_trains_with_the_lm_state_cache_as_without(tiny_lm_environment, tmp_path):
    overrides = {**TAGGER_OVERRIDES, **DISTRIBUTED}
    store = tmp_path / "lm_states"
    cached, uncached = tmp_path / "cached", tmp_path / "uncached"
    cache = {"model.lm_embedder.cache": {"max_memory_mib": 1, "directory": str(store)}}
    train(cached, {**overrides, **cache}, config=TAGLM_CONFIG, environment=tiny_lm_environment)
    train(uncached, overrides, config=TAGLM_CONFIG, environment=tiny_lm_environment)
    assert_both_workers_trained_every_batch(cached)
    assert_same_metrics(cached, uncached)
    assert_same_weights(cached, uncached)
    # Both workers wrote their sentences' states into the one store (plus its two entries
    # naming the LM and the key format).
    sentences = set(conll_sentences(TAGGER_TRAIN)) | set(conll_sentences(TAGGER_DEV))
    with lmdb.open(str(store), readonly=True, lock=False) as environment:
        assert environment.stat()["entries"] == len(sentences) + 2


# Two gloo workers as allennlp's `_train_worker` leaves them: the process group never
# destroyed, a `DistributedDataParallel` wrapper that only the garbage collector frees (the
# trainer's objects are in reference cycles). Each worker prints the names of its threads
# during training and when every atexit handler has run: the observer is registered before
# taglm_plugin is imported, so it runs after the plugin's handler, just before finalization.
WORKER_EXIT_SCRIPT = """
import atexit, os

def threads():
    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                names.append(comm.read().strip())
        except OSError:  # ended meanwhile
            pass
    return sorted(names)

def report(when):  # one write: the two workers' lines do not interleave
    os.write(1, f"{when}: {threads()}\\n".encode())

if __name__ == "__mp_main__":
    atexit.register(report, "at finalization")

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import taglm_plugin

def worker(rank, port):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", world_size=2,
                            rank=rank)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))
    model.cycle = model
    model(torch.ones(1, 2)).sum().backward()
    dist.all_gather_object([None, None], rank)
    report("during training")

if __name__ == "__main__":
    from allennlp.common.util import find_open_port
    mp.spawn(worker, args=(find_open_port(),), nprocs=2)
"""
# torch's names of a gloo process group's worker threads and of the TCP store's server thread.
PROCESS_GROUP_THREADS = ("pt_gloo_runloop", "pt_tcpstore_uv")


def test_no_process_group_thread_outlives_a_worker_into_finalization(tmp_path):
    """
    A gloo worker thread alive at finalization may release a collective's tensors then, and
    taking the GIL ends it in C++ code: "terminate called without an active exception", the
    worker dies with SIGABRT after training (pytorch/pytorch#179291), now and then.
    """
    script = tmp_path / "worker_exit.py"
    script.write_text(WORKER_EXIT_SCRIPT)
    # The script's directory comes first in sys.path: the checkout's package must come next.
    environment = dict(ENVIRONMENT, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, str(script)], cwd=REPO_ROOT, env=environment, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    during = [line for line in lines if line.startswith("during training:")]
    at_exit = [line for line in lines if line.startswith("at finalization:")]
    assert len(during) == len(at_exit) == 2, result.stdout
    # The names are torch's: during training the threads are there.
    assert all("pt_gloo_runloop" in line for line in during), during
    for line in at_exit:
        assert not any(name in line for name in PROCESS_GROUP_THREADS), at_exit
