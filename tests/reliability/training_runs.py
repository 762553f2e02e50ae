"""`allennlp train` runs of the tiny tagger in subprocesses, for the reliability tests."""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

from ..conftest import FIXTURES, REPO_ROOT

CONFIG = FIXTURES / "reliability" / "tiny_tagger.jsonnet"

# One thread: the tiny model trains several times faster than with one thread per core on a
# busy machine, and every run sums in the same order.
ENVIRONMENT = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def start_training(serialization_dir: Path, *options: str) -> subprocess.Popen:
    """Starts `allennlp train CONFIG -s serialization_dir`; its log goes to `<dir>.log`."""
    command = [sys.executable, "-m", "allennlp", "train", str(CONFIG), "-s",
               str(serialization_dir), "--include-package", "taglm_plugin", *options]  # fmt: skip
    log = open(f"{serialization_dir}.log", "a")
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=ENVIRONMENT, stdout=log, stderr=subprocess.STDOUT
    )


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
