import pickle
from pathlib import Path

import pytest
import torch
from allennlp.training.checkpointer import Checkpointer

from taglm_plugin.training.checkpointers.crash_safe import CrashSafeCheckpointer


def write_checkpoint(directory: Path, epochs: int, batches: int = 0, best: bool = False) -> None:
    """A checkpoint as allennlp's trainer writes it, with the model weight `epochs`."""
    model_state = {"weight": torch.full((3,), float(epochs))}
    training_state = {
        "epochs_completed": epochs,
        "metric_tracker": {"is_best_so_far": best},
        "best_model_filename": None,
    }
    torch.save(model_state, directory / f"model_state_e{epochs}_b{batches}.th")
    torch.save(training_state, directory / f"training_state_e{epochs}_b{batches}.th")


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "interrupt",
    [
        lambda d: cut_in_half(d / "model_state_e2_b0.th"),
        lambda d: cut_in_half(d / "training_state_e2_b0.th"),
        lambda d: (d / "training_state_e2_b0.th").write_bytes(b""),
        lambda d: (d / "training_state_e2_b0.th").unlink(),
    ],
    ids=["model state cut short", "training state cut short", "empty training state",
         "no training state"],
)  # fmt: skip
def test_resumes_from_the_newest_checkpoint_that_loads(tmp_path, interrupt):
    write_checkpoint(tmp_path, 1)
    write_checkpoint(tmp_path, 2)
    interrupt(tmp_path)
    # allennlp's own checkpointer cannot resume from this directory.
    with pytest.raises((EOFError, OSError, RuntimeError)):
        Checkpointer(tmp_path).load_checkpoint()

    model_state, training_state = CrashSafeCheckpointer(tmp_path).load_checkpoint()

    assert training_state["epochs_completed"] == 1
    assert torch.equal(model_state["weight"], torch.full((3,), 1.0))
    # The broken checkpoint is set aside, so that the resumed run writes epoch 2 anew.
    assert not list(tmp_path.glob("*_e2_b0.th"))
    assert list(tmp_path.glob("model_state_e2_b0.th.incomplete"))
    assert CrashSafeCheckpointer(tmp_path).find_latest_checkpoint() == (
        str(tmp_path / "model_state_e1_b0.th"),
        str(tmp_path / "training_state_e1_b0.th"),
    )


def test_without_a_readable_checkpoint_training_starts_from_scratch(tmp_path):
    write_checkpoint(tmp_path, 1)
    cut_in_half(tmp_path / "model_state_e1_b0.th")
    assert CrashSafeCheckpointer(tmp_path).load_checkpoint() is None


class WritesMarker:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code from the checkpoint ran"))


def test_a_checkpoint_that_would_run_code_is_refused_not_skipped(tmp_path):
    marker = tmp_path / "marker"
    write_checkpoint(tmp_path, 1)
    torch.save({"metric_tracker": WritesMarker(marker)}, tmp_path / "training_state_e1_b0.th")
    # The payload is live: unpickling it without weights_only writes the marker.
    torch.load(tmp_path / "training_state_e1_b0.th", weights_only=False)
    assert marker.exists()
    marker.unlink()

    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        CrashSafeCheckpointer(tmp_path).load_checkpoint()

    assert not marker.exists()
    assert (tmp_path / "training_state_e1_b0.th").exists()


def test_resuming_after_a_best_epoch_writes_its_best_model(tmp_path):
    # The trainer saves an epoch's checkpoint before it copies the best epoch's weights to
    # best.th: a kill in between leaves best.th from an older epoch (or none).
    write_checkpoint(tmp_path, 1, best=True)
    torch.save({"weight": torch.zeros(3)}, tmp_path / "best.th")

    model_state, training_state = CrashSafeCheckpointer(tmp_path).load_checkpoint()

    assert training_state["best_model_filename"] == str(tmp_path / "best.th")
    best = torch.load(tmp_path / "best.th", weights_only=True)
    assert torch.equal(best["weight"], model_state["weight"])


@pytest.mark.parametrize("batches, best", [(0, False), (5, True)], ids=["not best", "mid-epoch"])
def test_other_checkpoints_leave_the_best_model_alone(tmp_path, batches, best):
    # A mid-epoch checkpoint's "best so far" is about the last validated epoch, whose best.th
    # was written after that epoch's checkpoint.
    write_checkpoint(tmp_path, 1, batches=batches, best=best)
    torch.save({"weight": torch.zeros(3)}, tmp_path / "best.th")

    _, training_state = CrashSafeCheckpointer(tmp_path).load_checkpoint()

    assert training_state["best_model_filename"] is None
    assert torch.equal(torch.load(tmp_path / "best.th")["weight"], torch.zeros(3))


def recover_on_two_workers(global_rank: int, world_size: int, gpu_id: int, directory: Path) -> None:
    """Worker 1 loads the checkpoint first, then worker 0: only worker 0 writes files."""
    for rank in (1, 0):
        if rank == global_rank:
            files_before = sorted(path.name for path in directory.iterdir())
            _, training_state = CrashSafeCheckpointer(directory).load_checkpoint()
            assert training_state["best_model_filename"] == str(directory / "best.th")
            files = sorted(path.name for path in directory.iterdir())
            if rank == 1:
                assert files == files_before
            else:
                assert "best.th" in files and "model_state_e2_b0.th.incomplete" in files
        torch.distributed.barrier()


def test_in_distributed_training_only_the_primary_writes(tmp_path):
    import socket

    import torch.multiprocessing as mp
    from allennlp.common.testing.distributed_test import init_process

    write_checkpoint(tmp_path, 1, best=True)
    write_checkpoint(tmp_path, 2)
    cut_in_half(tmp_path / "model_state_e2_b0.th")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.start_processes(
        init_process,
        args=(2, [-1, -1], recover_on_two_workers, (tmp_path,), {}, "127.0.0.1", port),
        nprocs=2,
        start_method="fork",
    )
