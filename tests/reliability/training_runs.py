"""`allennlp train` runs of the tiny tagger in subprocesses, for the reliability tests."""
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from tests.conftest import FIXTURES, REPO_ROOT
from tests.reliability.kill_points import KILL_POINT_VARIABLE

CONFIG = FIXTURES / "reliability" / "tiny_tagger.jsonnet"

# One thread: the tiny model trains several times faster than with one thread per core on a
# busy machine, and every run sums in the same order.
ENVIRONMENT = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def start_training(
    serialization_dir: Path,
    *options: str,
    config: Path = CONFIG,
    environment: Optional[Dict[str, str]] = None,
    kill_point: Optional[str] = None,
) -> subprocess.Popen:
    """
    Starts `allennlp train config -s serialization_dir` (with `environment` added to
    `ENVIRONMENT`) in a process group of its own, which its distributed workers join; its log
    goes to `<dir>.log`. With a `kill_point` (tests/reliability/kill_points.py) the process
    kills itself there.
    """
    command = [sys.executable, "-m", "allennlp", "train", str(config), "-s",
               str(serialization_dir), "--include-package", "taglm_plugin", *options]  # fmt: skip
    environment = dict(ENVIRONMENT, **(environment or {}))
    if kill_point is not None:
        command += ["--include-package", "tests.reliability.kill_points"]
        environment[KILL_POINT_VARIABLE] = kill_point
    log = open(f"{serialization_dir}.log", "a")
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float = 300.0) -> None:
    """Waits until `path` exists; fails if the training `process` ends first or it takes long."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"training ended before {path.name} was written"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.01)


def finish(process: subprocess.Popen, serialization_dir: Path) -> None:
    """Waits for a training run and fails with the end of its log if it failed."""
    if process.wait(timeout=300) != 0:
        log = Path(f"{serialization_dir}.log").read_text()
        raise AssertionError(f"training in {serialization_dir} failed:\n{log[-3000:]}")


def comparable_metrics(serialization_dir: Path) -> Dict[str, Any]:
    """`metrics.json` without what varies between identical runs: time and memory use."""
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    return {
        key: value
        for key, value in metrics.items()
        if key != "training_duration" and not key.endswith("_memory_MB")
    }


def archived_weights(serialization_dir: Path) -> Dict[str, torch.Tensor]:
    """The weights in the run's `model.tar.gz`."""
    with tarfile.open(serialization_dir / "model.tar.gz") as archive:
        weights = archive.extractfile("weights.th").read()
    return torch.load(io.BytesIO(weights), weights_only=True)
