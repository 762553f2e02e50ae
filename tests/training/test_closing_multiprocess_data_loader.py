import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import FIXTURES, REPO_ROOT

# Two epochs of one batch each from allennlp's loader with workers that still have batches to
# give (the bounded queue is full), in a process with `python -m allennlp`'s SIGTERM handler.
TWO_SHORT_EPOCHS = """
import sys
import time
from allennlp.common import Params
from allennlp.common.util import install_sigterm_handler
from allennlp.data import DataLoader, Vocabulary
import taglm_plugin
from taglm_plugin.lm.lm_text import LmTextReader

install_sigterm_handler()
loader_type, data_path = sys.argv[1:]
reader = LmTextReader.from_params(Params({"token_indexers": {"elmo": {"type": "elmo_characters"}}}))
loader = DataLoader.from_params(
    Params({
        "type": loader_type,
        "batch_sampler": {"type": "bucket", "batch_size": 2, "sorting_keys": ["tokens"]},
        "max_instances_in_memory": 8,
        "num_workers": 2,
        "batches_per_epoch": 1,
    }),
    reader=reader,
    data_path=data_path,
)
loader.index_with(Vocabulary.from_instances(reader.read(data_path)))
for _ in range(2):
    assert len(list(loader)) == 1
print("epochs-done", time.time(), flush=True)
"""
# Seconds for the whole subprocess: imports (~10 s on a busy machine), the epochs (< 1 s) and
# the interpreter's teardown (a few); allennlp's `multiprocess` loader never exits.
TIMEOUT_SECONDS = 60
# Seconds from the end of the epochs to the end of the process.
EXIT_SECONDS = 20


def test_the_process_exits_promptly_after_epochs_cut_short_by_batches_per_epoch(tmp_path):
    data_path = tmp_path / "sentences.txt"
    data_path.write_text((FIXTURES / "lm" / "sentences.txt").read_text() * 400)
    # A session of its own: its workers can be killed with it if it hangs.
    process = subprocess.Popen(
        [sys.executable, "-c", TWO_SHORT_EPOCHS, "taglm_multiprocess", str(data_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"no exit within {TIMEOUT_SECONDS} s; output: {stdout!r}")
    exited = time.time()
    assert process.returncode == 0, stderr
    marker, finished = stdout.split()
    assert marker == "epochs-done"
    assert exited - float(finished) < EXIT_SECONDS
