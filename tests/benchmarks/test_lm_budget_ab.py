import json
import os
import subprocess

import pytest

from tests.conftest import FIXTURES, REPO_ROOT

SCRIPT = "benchmarks/gpu/lm_budget_ab.sh"


def run(tmp_path, *arguments: str, **variables: str) -> subprocess.CompletedProcess:
    environment = dict(
        os.environ, LM_SIZE="small", CUDA_DEVICE="-1", EPOCH_SENTENCES="64",
        RUNS=str(tmp_path / "runs"), **variables,
    )  # fmt: skip
    return subprocess.run(
        ["bash", SCRIPT, *arguments], cwd=REPO_ROOT, env=environment, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip


def test_small_lms_side_by_side_give_perplexity_over_time(tmp_path):
    # Held out: every 100th line (document), so the text needs a few hundred lines.
    text = tmp_path / "text.txt"
    text.write_text((FIXTURES / "tagger" / "lm_text.txt").read_text() * 30)
    result = run(tmp_path, str(text), "5", "16:0.002")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "16:0.002 forward: exit 0" in result.stdout
    assert "16:0.002 backward: exit 0" in result.stdout
    summary = json.loads((tmp_path / "runs" / "summary.json").read_text())
    assert set(summary) == {"16:0.002 forward", "16:0.002 backward"}
    for epochs in summary.values():
        # The small preset's 2 epochs of 64 sentences: 4 batches of 16 each.
        assert len(epochs) == 2
        assert epochs[0]["tokens_seen"] < epochs[1]["tokens_seen"]
        assert all(epoch["perplexity"] > 1 and epoch["seconds"] > 0 for epoch in epochs)
    config = json.loads((tmp_path / "runs" / "16:0.002" / "forward" / "config.json").read_text())
    assert config["data_loader"]["batch_size"] == 16
    assert config["data_loader"]["batches_per_epoch"] == 4
    assert config["trainer"]["optimizer"]["lr"] == 0.002


def test_the_token_caches_go_where_caches_says(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text((FIXTURES / "tagger" / "lm_text.txt").read_text() * 30)
    result = run(tmp_path, str(text), "5", "16:0.002", CACHES=str(tmp_path / "caches"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for direction in ("forward", "backward"):
        assert list((tmp_path / "caches" / f"cache_{direction}").glob("lm_tokens-*.npz"))
    assert not list((tmp_path / "runs").glob("cache_*"))


def test_a_failed_training_is_reported_and_fails_the_script(tmp_path):
    result = run(tmp_path, str(tmp_path / "no_such_text.txt"), "5", "16:0.002")
    assert result.returncode == 1
    assert "16:0.002 forward: exit 1" in result.stdout
    assert "16:0.002 backward: exit 1" in result.stdout
    assert "16:0.002 forward: no epoch finished" in result.stdout
    assert json.loads((tmp_path / "runs" / "summary.json").read_text()) == {
        "16:0.002 forward": [],
        "16:0.002 backward": [],
    }


@pytest.mark.parametrize("variant", ["100:0.001", "16:1e", "16:.5", "16"])
def test_a_bad_variant_stops_it_before_any_training(tmp_path, variant):
    result = run(tmp_path, "text.txt", "5", "16:0.002", variant)
    assert result.returncode == 2
    assert f"variant '{variant}'" in result.stderr and "dividing 64" in result.stderr
    assert not (tmp_path / "runs").exists()
