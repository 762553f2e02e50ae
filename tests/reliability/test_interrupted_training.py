"""
`allennlp train --recover` after the training process was killed with SIGKILL ends with the
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
  (tests/training/checkpointers/test_crash_safe.py).
"""
import signal

import torch

from .training_runs import comparable_metrics, finish, start_training, wait_for_file


def test_recover_after_sigkill_ends_like_an_uninterrupted_run(tmp_path):
    uninterrupted_dir, interrupted_dir = tmp_path / "uninterrupted", tmp_path / "interrupted"
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
    weights = [
        torch.load(run / "best.th", weights_only=True)
        for run in (interrupted_dir, uninterrupted_dir)
    ]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[1])
    # It resumed from the checkpoint: epoch 0 was not trained again.
    assert (interrupted_dir / "metrics_epoch_0.json").stat().st_mtime_ns == epoch_0_written
