"""`allennlp train` runs of the tiny tagger in subprocesses, for the reliability tests."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from ..conftest import FIXTURES, REPO_ROOT

CONFIG = FIXTURES / "reliability" / "tiny_tagger.jsonnet"

# One thread: the tiny model trains several times faster than with one thread per core on a
# busy machine, and every run sums in the same order.
ENVIRONMENT = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def start_training(
    serialization_dir: Path,
    *options: str,
    config: Path = CONFIG,
    environment: Optional[Dict[str, str]] = None,
) -> subprocess.Popen:
    """
    Starts `allennlp train config -s serialization_dir` (with `environment` added to
    `ENVIRONMENT`) in a process group of its own, which its distributed workers join; its log
    goes to `<dir>.log`.
    """
    command = [sys.executable, "-m", "allennlp", "train", str(config), "-s",
               str(serialization_dir), "--include-package", "taglm_plugin", *options]  # fmt: skip
    log = open(f"{serialization_dir}.log", "a")
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=dict(ENVIRONMENT, **(environment or {})),
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
