"""
Kills an `allennlp train` process at a chosen point, for the reliability tests. Imported into
the training process with `--include-package tests.reliability.kill_points`, it reads the
point from the environment variable `TAGLM_TEST_KILL_POINT`:

* `checkpoint_e{N}`: right after the checkpoint of N completed epochs is written;
* `archiving`: while `model.tar.gz` is written (after `metrics.json`), leaving the first half
  of the archive.

The process ends with `os._exit(KILLED_EXIT_CODE)`: as after SIGKILL, no `finally` block, no
callback's `on_end` and no exit handler runs.
"""
import os
from pathlib import Path

import allennlp.commands.train
from allennlp.training.checkpointer import Checkpointer

KILL_POINT_VARIABLE = "TAGLM_TEST_KILL_POINT"
KILLED_EXIT_CODE = 137
_CHECKPOINT_PREFIX = "checkpoint_e"


def _kill_after_checkpoint(epochs_completed: int) -> None:
    save_checkpoint = Checkpointer.save_checkpoint

    def save_checkpoint_then_die(self, trainer) -> None:
        save_checkpoint(self, trainer)
        at_epoch_end = trainer._batches_in_epoch_completed == 0
        if at_epoch_end and trainer._epochs_completed == epochs_completed:
            os._exit(KILLED_EXIT_CODE)

    Checkpointer.save_checkpoint = save_checkpoint_then_die


def _kill_while_archiving() -> None:
    archive_model = allennlp.commands.train.archive_model

    def archive_half_then_die(serialization_dir, *args, **kwargs) -> None:
        archive = Path(archive_model(serialization_dir, *args, **kwargs))
        data = archive.read_bytes()
        archive.write_bytes(data[: len(data) // 2])
        os._exit(KILLED_EXIT_CODE)

    # train_model calls the name that allennlp.commands.train imported.
    allennlp.commands.train.archive_model = archive_half_then_die


_point = os.environ.get(KILL_POINT_VARIABLE)
if _point == "archiving":
    _kill_while_archiving()
elif _point is not None and _point.startswith(_CHECKPOINT_PREFIX):
    _kill_after_checkpoint(int(_point[len(_CHECKPOINT_PREFIX) :]))
elif _point is not None:
    raise ValueError(f"unknown {KILL_POINT_VARIABLE}: {_point!r}")
