"""
The invocations of `allennlp taglm-study` on a study directory, in `invocations.json` (one
entry appended as each starts, once its options are checked): when it started, its command
line, the plugin's commit and the machine, so that the report says how and where its results
were made (`results.json`'s `invocations`, `report.md`'s "Setup").

The commit is `$TAGLM_COMMIT` if set (for a copy of the checkout without its `.git`, as the
GPU host gets), else `git rev-parse HEAD` of the plugin's checkout, else "unknown".
"""
import datetime
import os
import platform
import shlex
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Sequence

import torch

from taglm_plugin.common.cpu_cores import cpu_cores
from taglm_plugin.study.json_files import read_json, write_json

INVOCATIONS_FILE = "invocations.json"
COMMIT_VARIABLE = "TAGLM_COMMIT"
_CHECKOUT = Path(__file__).resolve().parents[2]


def plugin_commit() -> str:
    """The plugin's commit (see the module's docstring)."""
    if os.environ.get(COMMIT_VARIABLE):
        return os.environ[COMMIT_VARIABLE]
    try:
        process = subprocess.run(
            ["git", "-C", str(_CHECKOUT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return process.stdout.strip()


def machine(cuda_device: int) -> Dict[str, Any]:
    """The GPU the runs use (name and memory; `None` on the CPU), CPU cores and versions."""
    gpu = None
    if cuda_device >= 0 and torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(cuda_device)
        gpu = f"{properties.name} ({properties.total_memory // 2**20:,} MiB)"
    return {
        "gpu": gpu,
        "cpu_cores": cpu_cores(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def read_invocations(study_dir: Path) -> List[Dict[str, Any]]:
    path = study_dir / INVOCATIONS_FILE
    return read_json(path) if path.is_file() else []


def record_invocation(study_dir: Path, command: Sequence[str], cuda_device: int) -> None:
    """Appends this invocation (`command`: its command line) to `invocations.json`."""
    invocations = read_invocations(study_dir)
    invocations.append({
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": shlex.join(command),
        "commit": plugin_commit(),
        **machine(cuda_device),
    })  # fmt: skip
    write_json(study_dir / INVOCATIONS_FILE, invocations)
