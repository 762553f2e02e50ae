"""
`allennlp train --recover` after the training process was killed with SIGKILL ends with the
metrics and weights of an uninterrupted run of the same config and seed, exactly (CPU).

What that takes (tests/fixtures/reliability/tiny_tagger.jsonnet): allennlp replays the
finished epochs through the training data loader, which advances Python's `random` as the
shuffling did, but it saves no generator state, so the `taglm_torch_rng_checkpoint` callback
restores torch's (dropout), and the validation data loader must draw no random numbers
(allennlp's `bucket` sampler draws padding noise even with `shuffle: false`). A kill can land
while a checkpoint is being written; the `taglm_crash_safe` checkpointer then resumes from the
previous one.
"""
import signal
import time

import torch

from .training_runs import comparable_metrics, finish, start_training


def wait_for_file(path, process, timeout=300.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"training ended before {path.name} was written"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


def test_recover_after_sigkill_ends_like_an_uninterrupted_run(tmp_path):
    uninterrupted_dir, interrupted_dir = tmp_path / "uninterrupted", tmp_path / "interrupted"
    uninterrupted = start_training(uninterrupted_dir)
    interrupted = start_training(interrupted_dir)

    # The trainer writes metrics_epoch_2.json after the checkpoint of epochs_completed = 2
    # and before that of 3: kill it there, in the middle of training.
    wait_for_file(interrupted_dir / "metrics_epoch_2.json", interrupted)
    interrupted.send_signal(signal.SIGKILL)
    assert interrupted.wait() == -signal.SIGKILL
    epoch_0_written = (interrupted_dir / "metrics_epoch_0.json").stat().st_mtime_ns

    # The newest checkpoint may be partly written (or its older neighbour already deleted:
    # allennlp keeps two). Every other one is complete, and its training state (optimizer,
    # metric tracker, scheduler and callback states) loads weights-only, as --recover loads
    # it on torch >= 2.6.
    checkpoints = sorted(
        int(path.name[len("model_state_e") :].split("_")[0])
        for path in interrupted_dir.glob("model_state_e*_b0.th")
    )
    assert len(checkpoints) >= 2 and checkpoints[0] >= 1, checkpoints
    for epochs in checkpoints[:-1]:
        torch.load(interrupted_dir / f"training_state_e{epochs}_b0.th", weights_only=True)
    # Make the worst case certain: the newest checkpoint cut short, as by a kill during its
    # torch.save (unless the kill already left it without its training state).
    newest_training_state = interrupted_dir / f"training_state_e{checkpoints[-1]}_b0.th"
    if newest_training_state.exists():
        data = newest_training_state.read_bytes()
        newest_training_state.write_bytes(data[: len(data) // 2])

    finish(start_training(interrupted_dir, "--recover"), interrupted_dir)
    finish(uninterrupted, uninterrupted_dir)

    assert comparable_metrics(interrupted_dir) == comparable_metrics(uninterrupted_dir)
    weights = [
        torch.load(run / "best.th", weights_only=True)
        for run in (interrupted_dir, uninterrupted_dir)
    ]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[1])
    # It resumed from a checkpoint: epoch 0 was not trained again.
    assert (interrupted_dir / "metrics_epoch_0.json").stat().st_mtime_ns == epoch_0_written
    assert (interrupted_dir / f"model_state_e{checkpoints[-1]}_b0.th.incomplete").exists()
