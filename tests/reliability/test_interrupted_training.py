"""
`allennlp train --recover` after the training process was killed (SIGKILL during training,
or at a point after the last checkpoint, tests/reliability/kill_points.py) ends with the
metrics and weights of an uninterrupted run of the same config and seed, exactly (CPU).

What that takes (tests/fixtures/reliability/tiny_tagger.jsonnet):

* allennlp replays the finished epochs through the training data loader, which advances
  Python's `random` as the shuffling did, but saves no generator state: the
  `taglm_torch_rng_checkpoint` callback restores torch's (dropout masks), and the validation
  data loader must draw no random numbers (allennlp's `bucket` sampler draws padding noise
  even with `shuffle: false`);
* the `taglm_crash_safe` checkpointer: allennlp records a best epoch's `best.th` only after
  that epoch's checkpoint, so a run resumed from it had no best model; and a kill while a
  checkpoint is written leaves a file that allennlp cannot resume from
  (tests/training/checkpointers/test_crash_safe.py);
* the `taglm_training_end_checkpoint` callback, for a run killed after its last checkpoint:
  allennlp's trainer keeps the final metrics only in memory and checks for early stopping only
  after an epoch that it trained
  (tests/training/callbacks/test_training_end_checkpoint.py).
"""
import json
import signal

import pytest
import torch

from tests.reliability.kill_points import KILLED_EXIT_CODE
from tests.conftest import FIXTURES
from tests.reliability.training_runs import (
    archived_weights,
    comparable_metrics,
    finish,
    start_training,
    wait_for_file,
)


PRETRAINED_CONFIG = FIXTURES / "reliability" / "tiny_tagger_pretrained.jsonnet"
FROZEN_TABLE = "text_field_embedder.token_embedder_tokens.pretrained"


def runs(tmp_path):
    """The serialization directories of the interrupted and the uninterrupted run."""
    return tmp_path / "interrupted", tmp_path / "uninterrupted"


def same_weights(first, second) -> bool:
    return first.keys() == second.keys() and all(
        torch.equal(first[name], second[name]) for name in first
    )


def test_recover_after_sigkill_ends_like_an_uninterrupted_run(tmp_path):
    interrupted_dir, uninterrupted_dir = runs(tmp_path)
    uninterrupted = start_training(uninterrupted_dir)
    interrupted = start_training(interrupted_dir)

    # After epoch 0 the trainer writes checkpoint e1, then best.th (the first epoch is the
    # best so far): once best.th exists, e1 is complete. Kill during epoch 1.
    wait_for_file(interrupted_dir / "best.th", interrupted)
    interrupted.send_signal(signal.SIGKILL)
    assert interrupted.wait() == -signal.SIGKILL
    assert sorted(path.name for path in interrupted_dir.glob("*_state_e*")) == [
        "model_state_e1_b0.th",
        "training_state_e1_b0.th",
    ]
    # The training state (optimizer, metric tracker, scheduler and callback states) loads
    # weights-only, as --recover loads it on torch >= 2.6. It records no best model yet.
    training_state = torch.load(interrupted_dir / "training_state_e1_b0.th", weights_only=True)
    assert training_state["best_model_filename"] is None
    epoch_0_written = (interrupted_dir / "metrics_epoch_0.json").stat().st_mtime_ns

    finish(start_training(interrupted_dir, "--recover"), interrupted_dir)
    finish(uninterrupted, uninterrupted_dir)

    assert comparable_metrics(interrupted_dir) == comparable_metrics(uninterrupted_dir)
    assert same_weights(
        *[torch.load(run / "best.th", weights_only=True) for run in runs(tmp_path)]
    )
    # It resumed from the checkpoint: epoch 0 was not trained again.
    assert (interrupted_dir / "metrics_epoch_0.json").stat().st_mtime_ns == epoch_0_written


def test_recover_from_checkpoints_without_the_frozen_tensors(tmp_path):
    """With `taglm_standalone_best_weights`, checkpoints leave out the frozen word table read
    from the vectors file: a run resumed from one ends as an uninterrupted run, and its
    best.th and archive hold the table."""
    interrupted_dir, uninterrupted_dir = runs(tmp_path)
    uninterrupted = start_training(uninterrupted_dir, config=PRETRAINED_CONFIG)
    interrupted = start_training(interrupted_dir, config=PRETRAINED_CONFIG)
    wait_for_file(interrupted_dir / "best.th", interrupted)
    interrupted.send_signal(signal.SIGKILL)
    assert interrupted.wait() == -signal.SIGKILL
    checkpoint = torch.load(interrupted_dir / "model_state_e1_b0.th", weights_only=True)
    assert FROZEN_TABLE not in checkpoint
    assert "text_field_embedder.token_embedder_tokens.weight" in checkpoint

    finish(start_training(interrupted_dir, "--recover", config=PRETRAINED_CONFIG), interrupted_dir)
    finish(uninterrupted, uninterrupted_dir)

    assert comparable_metrics(interrupted_dir) == comparable_metrics(uninterrupted_dir)
    best = [torch.load(run / "best.th", weights_only=True) for run in runs(tmp_path)]
    assert same_weights(*best) and FROZEN_TABLE in best[0]
    archived = [archived_weights(run) for run in runs(tmp_path)]
    assert same_weights(*archived) and same_weights(archived[0], best[0])
    # The table is the vectors file's: row 2 (the file's first word, "the") is its vector.
    assert archived[0][FROZEN_TABLE][2, 0].item() == pytest.approx(-0.409)


# The tiny tagger's schedule stops training after epoch 3 (checkpoint e4); with two epochs
# training ends at num_epochs.
@pytest.mark.parametrize(
    "options, kill_point, last_epoch",
    [
        (["-o", json.dumps({"trainer.num_epochs": 2})], "archiving", 1),
        ([], "checkpoint_e4", 3),
    ],
    ids=["num_epochs, killed while archiving", "schedule, killed after the last checkpoint"],
)
def test_recover_after_the_last_checkpoint_ends_like_an_uninterrupted_run(
    tmp_path, options, kill_point, last_epoch
):
    interrupted_dir, uninterrupted_dir = runs(tmp_path)
    uninterrupted = start_training(uninterrupted_dir, *options)
    interrupted = start_training(interrupted_dir, *options, kill_point=kill_point)

    assert interrupted.wait(timeout=300) == KILLED_EXIT_CODE
    assert (interrupted_dir / f"training_state_e{last_epoch + 1}_b0.th").exists()
    assert (interrupted_dir / "metrics.json").exists() == (kill_point == "archiving")
    epochs_written = {
        path.name: path.stat().st_mtime_ns for path in interrupted_dir.glob("metrics_epoch_*")
    }
    assert sorted(epochs_written) == [f"metrics_epoch_{e}.json" for e in range(last_epoch + 1)]

    finish(start_training(interrupted_dir, *options, "--recover"), interrupted_dir)
    finish(uninterrupted, uninterrupted_dir)

    full_metrics = [json.loads((run / "metrics.json").read_text()) for run in runs(tmp_path)]
    assert full_metrics[0].keys() == full_metrics[1].keys()
    assert comparable_metrics(interrupted_dir) == comparable_metrics(uninterrupted_dir)
    assert full_metrics[1]["epoch"] == last_epoch
    assert same_weights(
        *[torch.load(run / "best.th", weights_only=True) for run in runs(tmp_path)]
    )
    assert same_weights(*[archived_weights(run) for run in runs(tmp_path)])
    # No epoch was trained again.
    assert {
        path.name: path.stat().st_mtime_ns for path in interrupted_dir.glob("metrics_epoch_*")
    } == epochs_written
