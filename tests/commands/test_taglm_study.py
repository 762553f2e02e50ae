"""
`allennlp taglm-study` end to end as a user runs it, on the tiny fixtures on the CPU: the
`small` LMs (no time budget: 2 epochs, the snapshot at half of them is epoch 0's), the
baseline, TagLM (`taglm_cached`) and TagLM with the LM snapshots (`taglm_cached@lm0.5`) for NER
and chunking with one seed and one epoch, two runs at once; then invoked again on the same
directory, which runs nothing. The NER baseline with `--retrain-with-dev` (two epochs, no
LMs), once; with a variant selected on dev (`--variants`, one epoch), once. Also its `--help`
through allennlp's own parser.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest
from allennlp.commands import parse_args

from taglm_plugin.tagging.conll_column import ConllColumnReader
from tests.conftest import FIXTURES, REPO_ROOT

TAGGER_FIXTURES = FIXTURES / "tagger"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The held-out parts of the training data (CoNLL-2000's 1000 sentences, every 100th LM
# document) shrunk to the fixtures' size.
OVERRIDES = {
    "lm": {"dataset_reader.held_out_every": 4, "validation_dataset_reader.held_out_every": 4},
    "chunking": {
        "dataset_reader.held_out_sentences": 2,
        "validation_dataset_reader.held_out_sentences": 2,
    },
}
TIMEOUT_SECONDS = 540


def run(root, overrides, *options: str, times: int = 2):
    """Runs the study with `options` and the overrides file `overrides` `times` times on one
    directory, on the fixtures (chunking's test file: its training file); returns it and each
    invocation's output."""
    conll2000 = root / "conll2000"
    conll2000.mkdir()
    for name in ("train.txt", "test.txt"):
        shutil.copy(TAGGER_FIXTURES / "conll2000" / "train.txt", conll2000 / name)
    (root / "overrides.json").write_text(json.dumps(overrides))
    command = [
        sys.executable, "-m", "allennlp", "taglm-study", str(root / "study"),
        "--seeds", "1", "--parallel", "2", "--cuda-device", "-1",
        "--conll2003-dir", str(TAGGER_FIXTURES / "conll2003"), "--conll2000-dir", str(conll2000),
        "--glove", str(TAGGER_FIXTURES / "glove.50d.txt"),
        "--overrides-file", str(root / "overrides.json"), *options,
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    outputs = []
    for _ in range(times):
        process = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True,
                                 text=True, timeout=TIMEOUT_SECONDS)  # fmt: skip
        assert process.returncode == 0, process.stderr[-5000:]
        outputs.append(process.stderr)
    return root / "study", outputs


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return run(
        tmp_path_factory.mktemp("study"), OVERRIDES,
        "--lm-text", str(TAGGER_FIXTURES / "lm_text.txt"), "--lm-size", "small",
        "--lm-seconds", "0", "--num-epochs", "1", "--lm-snapshots", "0.5",
        "--lm-snapshot-seeds", "1",
    )  # fmt: skip


@pytest.fixture(scope="module")
def retrained_study(tmp_path_factory):
    return run(tmp_path_factory.mktemp("retrained"), {}, "--tasks", "ner", "--configs",
               "baseline", "--num-epochs", "2", "--retrain-with-dev", times=1)  # fmt: skip


def test_every_run_has_results(study):
    directory, _ = study
    results = json.loads((directory / "results.json").read_text())
    assert results["missing"] == {}
    assert sorted(results["lms"]) == ["backward", "forward"]
    for lm in results["lms"].values():
        assert lm["tokens_seen"] > 0 and lm["epochs"] == len(lm["perplexity_over_time"]) == 2
    # The snapshot at 0.5 of 2 epochs is epoch 0's, measured at its validation.
    assert list(results["lm_snapshots"]) == ["lm0.5"]
    snapshot = results["lm_snapshots"]["lm0.5"]
    assert snapshot["fraction"] == 0.5 and snapshot["config"] == "taglm_cached@lm0.5"
    assert sorted(snapshot["lms"]) == ["backward", "forward"]
    for direction, state in snapshot["lms"].items():
        first = results["lms"][direction]["perplexity_over_time"][0]
        assert state["epoch"] == 0 and state["perplexity"] == first["perplexity"]
        assert 0 < state["tokens_seen"] < results["lms"][direction]["tokens_seen"]
        assert (directory / "runs" / "lm" / direction / "encoder@lm0.5.tar.gz").is_file()
    for task in ("ner", "chunking"):
        assert sorted(results["taggers"][task]) == [
            "baseline", "taglm_cached", "taglm_cached@lm0.5"
        ]
        for runs in results["taggers"][task].values():
            assert list(runs) == ["1"]
            run = runs["1"]
            assert run["epochs"] == 1 and len(run["dev_f1_per_epoch"]) == 1
            assert 0 <= run["test_f1"] <= 100 and run["test_f1_per_type"]
        # The snapshot runs loaded the snapshots' encoders, the others the final ones.
        config = (directory / "runs" / task / "taglm_cached@lm0.5" / "seed1" / "config.json")
        assert "encoder@lm0.5.tar.gz" in config.read_text()
        config = directory / "runs" / task / "taglm_cached" / "seed1" / "config.json"
        assert "encoder.tar.gz" in config.read_text() and "@lm" not in config.read_text()
    accuracy = json.loads((directory / "accuracy.json").read_text())
    assert accuracy["chunking"]["taglm_cached"]["seeds"] == [1]
    assert accuracy["ner"]["taglm_cached@lm0.5"]["seeds"] == [1]
    ner_baseline = results["taggers"]["ner"]["baseline"]["1"]
    assert accuracy["ner"]["baseline"]["test_f1"] == [ner_baseline["test_f1"]]


def test_report_and_plots(study):
    directory, _ = study
    report = (directory / "report.md").read_text()
    # Both invocations, with their command lines.
    invocations = json.loads((directory / "results.json").read_text())["invocations"]
    assert len(invocations) == 2
    assert all(i["command"].startswith(f"allennlp taglm-study {directory}") for i in invocations)
    assert "## Setup" in report and "on the CPU" in report
    assert "## Against the paper" in report and "| chunking | gain |" in report
    assert "## ner" in report and "## chunking" in report and "## Language models" in report
    assert "## LM budget vs TagLM F1" in report
    assert "| 0.5 of the budget | taglm_cached@lm0.5 |" in report
    plots = ["dev_f1_ner.png", "test_f1_ner.png", "dev_f1_chunking.png", "test_f1_chunking.png",
             "lm_perplexity.png", "lm_budget_f1.png"]  # fmt: skip
    for plot in plots:
        assert (directory / plot).read_bytes()[:8] == PNG_MAGIC, plot


def test_a_second_invocation_keeps_the_finished_runs(study):
    _, (first, second) = study
    assert "8 runs, 0 of them finished before; 2 at once" in first
    assert "Started lm/forward: train" in first and "Started lm/forward: export@lm0.5" in first
    assert "Started ner/taglm_cached/seed1: evaluate" in first
    assert "Started chunking/taglm_cached@lm0.5/seed1: evaluate" in first
    assert "8 runs, 8 of them finished before" in second and "Started" not in second


def test_help(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["allennlp", "taglm-study", "--help"])
    with pytest.raises(SystemExit) as exit:
        parse_args()
    assert exit.value.code == 0
    help = capsys.readouterr().out
    for option in ("--lm-text", "--parallel", "--ablations", "--recover", "--overrides-file",
                   "--lm-snapshots", "--lm-snapshot-seeds", "--retrain-with-dev",
                   "--variants"):  # fmt: skip
        assert option in help


def test_bad_option_is_a_usage_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["allennlp", "taglm-study", str(tmp_path / "s"),
                                      "--tasks", "pos"])  # fmt: skip
    _, args = parse_args()
    with pytest.raises(SystemExit) as exit:
        args.func(args)
    assert exit.value.code == 2
    assert "--tasks: unknown task 'pos'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_lm_snapshot_options(capsys, monkeypatch, tmp_path):
    """`--lm-snapshots` alone turns the snapshots off; a bad fraction is a usage error."""
    monkeypatch.setattr(sys, "argv", ["allennlp", "taglm-study", str(tmp_path / "s"),
                                      "--lm-snapshots"])  # fmt: skip
    _, args = parse_args()
    assert args.lm_snapshots == [] and args.lm_snapshot_seeds == 2
    monkeypatch.setattr(sys, "argv", ["allennlp", "taglm-study", str(tmp_path / "s"),
                                      "--lm-snapshots", "0.25", "1.5"])  # fmt: skip
    _, args = parse_args()
    assert args.lm_snapshots == [0.25, 1.5]
    with pytest.raises(SystemExit) as exit:
        args.func(args)
    assert exit.value.code == 2
    assert "--lm-snapshots: 1.5 is not a fraction of the LM budget" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


@pytest.fixture(scope="module")
def variant_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("variants")
    variants = {"ner": {"baseline": {"lr2c4": {"trainer.optimizer.lr": 0.002, "casing_dim::": 4}}}}
    (root / "variants.json").write_text(json.dumps(variants))
    return run(root, {}, "--tasks", "ner", "--configs", "baseline", "--num-epochs", "1",
               "--variants", str(root / "variants.json"), times=1)  # fmt: skip


def test_variants_are_selected_on_dev_and_only_the_selected_is_evaluated(variant_study):
    """`--variants`: `baseline~lr2c4` (another learning rate and, through the hidden field
    `casing_dim`, a casing feature of 4 dimensions) trained beside `baseline`; of the two, the
    one of the higher dev F1 (`baseline` on a tie) is evaluated on test, and `baseline` is in
    any case."""
    directory, (output,) = variant_study
    results = json.loads((directory / "results.json").read_text())
    selection = results["selections"]["ner"]["baseline"]
    dev_f1 = {name: candidate["dev_f1"] for name, candidate in selection["candidates"].items()}
    assert list(dev_f1) == ["baseline", "baseline~lr2c4"]
    expected = "baseline~lr2c4" if dev_f1["baseline~lr2c4"] > dev_f1["baseline"] else "baseline"
    assert selection["selected"] == expected
    assert selection["candidates"]["baseline~lr2c4"]["overrides"] == {
        "trainer.optimizer.lr": 0.002, "casing_dim::": 4
    }
    runs = directory / "runs" / "ner"
    config = json.loads((runs / "baseline~lr2c4" / "seed1" / "config.json").read_text())
    assert config["trainer"]["optimizer"]["lr"] == 0.002
    # The hidden field, set in the config the study wrote (configs/ner/baseline~lr2c4.jsonnet).
    assert config["model"]["text_field_embedder"]["token_embedders"]["casing"]["embedding_dim"] == 4
    evaluated = (runs / "baseline~lr2c4" / "seed1" / "test_metrics.json").is_file()
    assert evaluated == (expected == "baseline~lr2c4")
    assert (runs / "baseline" / "seed1" / "test_metrics.json").is_file()
    assert sorted(results["taggers"]["ner"]) == sorted({"baseline", expected})
    assert results["missing"] == {}
    assert "## Selected on dev" in (directory / "report.md").read_text()
    assert "2 runs, 0 of them finished before" in output
    assert f"selected: {expected}" in (runs / "baseline~lr2c4" / "seed1.evaluate.log").read_text()


def test_retrain_with_dev_trains_each_run_again_on_train_and_dev(retrained_study):
    """`baseline+dev`: trained on eng.train and eng.testa for the train-only run's epochs up
    to its best one, without validation; its own rows in results.json, accuracy.json and
    report.md. (What chunking trains on then, and that a finished run is kept:
    tests/study/test_replay.py, tests/study/test_plan.py.)"""
    directory, (output,) = retrained_study
    results = json.loads((directory / "results.json").read_text())
    accuracy = json.loads((directory / "accuracy.json").read_text())
    report = (directory / "report.md").read_text()
    assert results["missing"] == {} and list(results["taggers"]["ner"]) == ["baseline"]
    train_only = results["taggers"]["ner"]["baseline"]["1"]
    run = results["retrained_with_dev"]["ner"]["baseline+dev"]["1"]
    assert run["epochs"] == train_only["best_epoch"] + 1 and 0 <= run["test_f1"] <= 100
    assert accuracy["ner"]["baseline+dev"] == {"seeds": [1], "test_f1": [run["test_f1"]]}
    run_directory = directory / "runs" / "ner" / "baseline+dev" / "seed1"
    config = json.loads((run_directory / "config.json").read_text())
    data = TAGGER_FIXTURES / "conll2003"
    assert config["train_data_path"] == [str(data / "eng.train"), str(data / "eng.testa")]
    assert config["validation_data_path"] is None
    assert config["trainer"]["learning_rate_scheduler"]["type"] == "taglm_replay_stages"
    assert "taglm_stop_after_schedule" not in json.dumps(config["trainer"]["callbacks"])
    for path in run_directory.glob("metrics_epoch_*.json"):
        assert "validation_" not in path.read_text()
    log = (run_directory.parent / "seed1.train.log").read_text()
    for name in ("eng.train", "eng.testa"):
        sentences = len(ConllColumnReader().read_sentences(str(data / name)))
        assert f"Read {sentences} sentences (all) from {data / name}" in log
    assert "## Trained on train+dev" in report and "| baseline+dev | 1 |" in report
    assert "baseline+dev" not in report.split("## Trained on train+dev")[0]
    assert "2 runs, 0 of them finished before" in output
    assert "Started ner/baseline+dev/seed1: evaluate" in output
