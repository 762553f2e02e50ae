"""
`results.json`, `accuracy.json` and `report.md` with its plots, from run directories written
here as allennlp, `allennlp evaluate`, `taglm_token_throughput` and the scheduler write them.
"""
import json
import sys
from pathlib import Path

from taglm_plugin.study.invocations import COMMIT_VARIABLE, record_invocation
from taglm_plugin.study.plan import Job, Plan, Step, StudyOptions, marker, snapshot_record
from taglm_plugin.study.report import write_report
from taglm_plugin.study.results import duration_seconds, write_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def tagger(study: Path, task: str, config: str, seed: int, dev_f1s, test_f1: float,
           lm_snapshot=None) -> Job:  # fmt: skip
    directory = study / "runs" / task / config / f"seed{seed}"
    for epoch, f1 in enumerate(dev_f1s):
        write(directory / f"metrics_epoch_{epoch}.json", {"validation_f1-measure-overall": f1})
    best = max(range(len(dev_f1s)), key=lambda epoch: dev_f1s[epoch])
    write(directory / "metrics.json", {
        "best_epoch": best, "epoch": len(dev_f1s) - 1, "training_duration": "0:01:02.500000",
        "best_validation_f1-measure-overall": dev_f1s[best],
        "best_validation_f1-measure-PER": 0.5, "best_validation_precision-PER": 0.4,
    })  # fmt: skip
    write(directory / "test_metrics.json", {
        "f1-measure-overall": test_f1, "f1-measure-PER": 0.25, "f1-measure-LOC": 0.125,
    })  # fmt: skip
    write(marker(directory, "train"), {"wall_seconds": 90.0})
    write(marker(directory, "evaluate"), {"wall_seconds": 10.0})
    steps = [Step("train", []), Step("evaluate", [])]
    return Job(task, config, seed, directory, {}, steps, config != "baseline", lm_snapshot)


def lm(study: Path, direction: str, snapshot_epoch: int) -> Job:
    """An LM of 3 epochs (held-out perplexity 400, 300, 250 after 10, 20, 30 s and 1000, 2000,
    3000 tokens) with its snapshot of 0.5 at `snapshot_epoch`."""
    directory = study / "runs" / "lm" / direction
    for epoch, perplexity in enumerate([400.0, 300.0, 250.0]):
        write(directory / f"metrics_epoch_{epoch}.json", {
            "epoch": epoch, "training_duration": f"0:00:{10 * (epoch + 1)}.000000",
            "validation_perplexity": perplexity,
        })  # fmt: skip
        write(directory / f"throughput_epoch_{epoch}.json",
              {"epoch": epoch, "tokens_seen": 1000 * (epoch + 1), "tokens_per_second": 99.5})
    write(directory / "metrics.json",
          {"epoch": 2, "best_epoch": 2, "best_validation_perplexity": 250.0})  # fmt: skip
    write(snapshot_record(directory, 0.5), {"fraction": 0.5, "epoch": snapshot_epoch})
    steps = [Step("train", []), Step("export", []), Step("export@lm0.5", [])]
    for step in steps:
        write(marker(directory, step.name), {"wall_seconds": 40.0 if step.name == "train" else 5.0})
    return Job("lm", direction, None, directory, {}, steps)


def study(tmp_path: Path, lm_snapshots=(0.5,)) -> Plan:
    """NER: 2 baseline seeds, 1 TagLM seed, 2 seeds of TagLM with the LM snapshots; chunking:
    1 baseline seed, TagLM unfinished (with `lm_snapshots`: the snapshot fractions)."""
    root = tmp_path / "study"
    taggers = [
        tagger(root, "ner", "baseline", 1, [0.80, 0.90], 0.85),
        tagger(root, "ner", "baseline", 2, [0.92, 0.91], 0.87),
        tagger(root, "ner", "taglm_cached", 1, [0.93], 0.9),
        tagger(root, "chunking", "baseline", 1, [0.95], 0.94),
    ]
    if lm_snapshots:
        taggers += [
            tagger(root, "ner", "taglm_cached@lm0.5", 1, [0.91], 0.88, lm_snapshot=0.5),
            tagger(root, "ner", "taglm_cached@lm0.5", 2, [0.89], 0.86, lm_snapshot=0.5),
        ]
    unfinished = Job("chunking", "taglm_cached", 1, root / "runs" / "chunking" / "taglm_cached" /
                     "seed1", {}, [Step("train", [])], True)  # fmt: skip
    return Plan(StudyOptions(root), [lm(root, "forward", 1), lm(root, "backward", 0)],
                taggers + [unfinished], parallel=2, lm_snapshots=list(lm_snapshots))  # fmt: skip


def test_duration_seconds():
    assert duration_seconds("0:01:02.500000") == 62.5
    assert duration_seconds("2 days, 1:00:00") == 2 * 86400 + 3600
    assert duration_seconds("0:00:07") == 7


def test_results_and_accuracy_files(tmp_path):
    plan = study(tmp_path)
    results = write_results(plan, {"chunking/taglm_cached/seed1": "train exited with status 1"})
    assert json.loads((plan.options.study_dir / "results.json").read_text()) == results
    run = results["taggers"]["ner"]["baseline"]["2"]
    assert run == {
        "dev_f1": 92.0, "test_f1": 87.0,
        "dev_f1_per_type": {"PER": 50.0}, "test_f1_per_type": {"LOC": 12.5, "PER": 25.0},
        "best_epoch": 0, "epochs": 2, "dev_f1_per_epoch": [92.0, 91.0],
        "train_seconds": 90.0, "evaluate_seconds": 10.0, "training_duration_seconds": 62.5,
    }  # fmt: skip
    assert results["lms"]["backward"] == {
        "tokens_seen": 3000, "tokens_per_second": 99.5, "epochs": 3, "train_seconds": 40.0,
        "export_seconds": 5.0, "best_perplexity": 250.0,
        "perplexity_over_time": [
            {"epoch": 0, "seconds": 10.0, "perplexity": 400.0},
            {"epoch": 1, "seconds": 20.0, "perplexity": 300.0},
            {"epoch": 2, "seconds": 30.0, "perplexity": 250.0},
        ],
        "exported": {"epoch": 2, "seconds": 30.0, "tokens_seen": 3000, "perplexity": 250.0},
    }  # fmt: skip
    # Each direction's snapshot at the epoch its record names, measured there.
    assert results["lm_snapshots"] == {
        "lm0.5": {"fraction": 0.5, "config": "taglm_cached@lm0.5", "lms": {
            "forward": {"epoch": 1, "seconds": 20.0, "tokens_seen": 2000, "perplexity": 300.0},
            "backward": {"epoch": 0, "seconds": 10.0, "tokens_seen": 1000, "perplexity": 400.0},
        }},
    }  # fmt: skip
    assert results["missing"] == {"chunking/taglm_cached/seed1": "train exited with status 1"}
    # docs/results/accuracy.json's format and units (F1 in percent).
    accuracy = json.loads((plan.options.study_dir / "accuracy.json").read_text())
    assert accuracy == {
        "ner": {
            "baseline": {"seeds": [1, 2], "dev_f1": [90.0, 92.0], "test_f1": [85.0, 87.0]},
            "taglm_cached": {"seeds": [1], "dev_f1": [93.0], "test_f1": [90.0]},
            "taglm_cached@lm0.5": {"seeds": [1, 2], "dev_f1": [91.0, 89.0],
                                   "test_f1": [88.0, 86.0]},
        },
        "chunking": {"baseline": {"seeds": [1], "dev_f1": [95.0], "test_f1": [94.0]}},
    }
    documented = json.loads((Path(__file__).parents[2] / "docs/results/accuracy.json").read_text())
    assert all(1 < f1 <= 100 for f1 in documented["ner"]["baseline"]["dev_f1"])


def test_the_invocations_are_in_the_results_and_the_report(tmp_path, monkeypatch):
    plan = study(tmp_path)
    results = write_results(plan, {})
    assert results["invocations"] == []
    write_report(results, tmp_path)
    assert "## Setup" not in (tmp_path / "report.md").read_text()
    monkeypatch.setenv(COMMIT_VARIABLE, "abc1234")
    record_invocation(plan.options.study_dir, ["allennlp", "taglm-study", "study"], -1)
    results = write_results(plan, {})
    assert [invocation["command"] for invocation in results["invocations"]] == [
        "allennlp taglm-study study"
    ]
    write_report(results, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "## Setup" in report
    assert "`allennlp taglm-study study` (commit abc1234) on the CPU" in report


def test_against_the_paper(tmp_path):
    plan = study(tmp_path)
    directory = plan.options.study_dir
    write_report(write_results(plan, {}), directory)
    report = (directory / "report.md").read_text()
    assert "## Against the paper" in report
    # NER: baseline test 85 and 87, TagLM 90; chunking: the baseline alone (no gain row).
    for row in [
        "| ner | baseline (`baseline`) | 86.00 ± 1.41 | 90.87 ± 0.13 | -4.87 |",
        "| ner | TagLM (`taglm_cached`) | 90.00 | 91.93 ± 0.19 | -1.93 |",
        "| ner | gain | +4.00 | +1.06 | +2.94 |",
        "| chunking | baseline (`baseline`) | 94.00 | 95.00 ± 0.08 | -1.00 |",
    ]:
        assert row in report, row
    assert "| chunking | gain" not in report


def test_report_tables_and_plots(tmp_path):
    plan = study(tmp_path)
    directory = plan.options.study_dir
    write_report(write_results(plan, {}), directory)
    report = (directory / "report.md").read_text()
    # NER baseline: dev 90 and 92, test 85 and 87 (sample std 1.41); test PER 25, LOC 12.5.
    row = "| baseline | 2 | 91.00 ± 1.41 | 86.00 ± 1.41 | 0.5 ± 0.7 | 2.0 ± 0.0 | 1.5 ± 0.0 |"
    assert row in report
    assert "| config | LOC | PER |" in report
    assert "| baseline | 12.50 ± 0.00 | 25.00 ± 0.00 |" in report
    assert "| taglm_cached | 1 | 93.00 | 90.00 |" in report
    assert "| forward | 3,000 | 100 | 40 | 3 | 250.0 |" in report
    assert "* chunking/taglm_cached/seed1: not finished" in report
    plots = ["dev_f1_ner.png", "test_f1_ner.png", "dev_f1_chunking.png", "test_f1_chunking.png",
             "lm_perplexity.png", "lm_budget_f1.png"]  # fmt: skip
    for plot in plots:
        assert f"]({plot})" in report
        assert (directory / plot).read_bytes()[:8] == PNG_MAGIC, plot


def test_lm_budget_table(tmp_path):
    plan = study(tmp_path)
    write_report(write_results(plan, {}), plan.options.study_dir)
    report = (plan.options.study_dir / "report.md").read_text()
    budgets = report[report.index("## LM budget vs TagLM F1"):]
    header = ("| LM | TagLM config | LM s (forward / backward) | tokens seen (forward / backward) "
              "| perplexity forward | perplexity backward | seeds | dev F1 | test F1 |")
    # The snapshot: forward at epoch 1, backward at epoch 0; the final LMs: the best epoch (2).
    ner = [
        "| 0.5 of the budget | taglm_cached@lm0.5 | 20 / 10 | 2,000 / 1,000 | 300.0 | 400.0 | 2 "
        "| 90.00 ± 1.41 | 87.00 ± 1.41 |",
        "| final | taglm_cached | 30 / 30 | 3,000 / 3,000 | 250.0 | 250.0 | 1 | 93.00 | 90.00 |",
        "| baseline (no LM) | baseline | – | – | – | – | 2 | 91.00 ± 1.41 | 86.00 ± 1.41 |",
    ]  # fmt: skip
    chunking = [
        "| 0.5 of the budget | taglm_cached@lm0.5 | 20 / 10 | 2,000 / 1,000 | 300.0 | 400.0 | 0 "
        "| – | – |",
        "| final | taglm_cached | 30 / 30 | 3,000 / 3,000 | 250.0 | 250.0 | 0 | – | – |",
        "| baseline (no LM) | baseline | – | – | – | – | 1 | 95.00 | 94.00 |",
    ]  # fmt: skip
    separator = "|" + " --- |" * 9
    assert f"### ner\n\n{header}\n{separator}\n" + "\n".join(ner) + "\n" in budgets
    assert f"### chunking\n\n{header}\n{separator}\n" + "\n".join(chunking) + "\n" in budgets


def test_no_lm_budget_section_without_snapshots(tmp_path):
    plan = study(tmp_path, lm_snapshots=())
    results = write_results(plan, {})
    assert results["lm_snapshots"] == {}
    write_report(results, plan.options.study_dir)
    assert "LM budget" not in (plan.options.study_dir / "report.md").read_text()
    assert not (plan.options.study_dir / "lm_budget_f1.png").exists()


def test_report_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    plan = study(tmp_path)
    write_report(write_results(plan, {}), plan.options.study_dir)
    report = (plan.options.study_dir / "report.md").read_text()
    assert "**Plots not drawn**" in report and "| baseline | 2 |" in report
    assert not list(plan.options.study_dir.glob("*.png"))


def retrained(study_dir: Path, run: Job, test_f1: float, stage_starts, restore) -> Job:
    """`run` trained on train+dev as `taglm_plugin.study.retrain` trains it: 3 epochs, the
    learning rate replayed with `stage_starts`, `restore` the `taglm_replay_restore` config."""
    directory = study_dir / "runs" / run.task / f"{run.config}+dev" / f"seed{run.seed}"
    callbacks = ["taglm_gc_freeze"] + ([restore] if restore else [])
    write(directory / "config.json", {"trainer": {
        "learning_rate_scheduler": {"type": "taglm_replay_stages", "stage_starts": stage_starts,
                                    "factor": 0.1},
        "callbacks": callbacks,
    }})  # fmt: skip
    write(directory / "metrics.json", {"best_epoch": 2, "epoch": 2,
                                       "training_duration": "0:02:00"})  # fmt: skip
    write(directory / "test_metrics.json", {"f1-measure-overall": test_f1, "f1-measure-PER": 0.5})
    write(marker(directory, "train"), {"wall_seconds": 120.0})
    write(marker(directory, "evaluate"), {"wall_seconds": 10.0})
    steps = [Step("train", []), Step("evaluate", [])]
    return Job(run.task, f"{run.config}+dev", run.seed, directory, {}, steps, retrains=run)


def test_runs_trained_on_train_and_dev_have_their_own_rows(tmp_path):
    """`CONFIG+dev` in results.json, accuracy.json (test F1 only) and a section of the report,
    never in the train-only results, tables or plots."""
    plan = study(tmp_path)
    baseline_1, baseline_2 = plan.tagger_jobs[:2]
    restore = {"type": "taglm_replay_restore", "save_epoch": 0, "restore_epoch": 1}
    plan.tagger_jobs += [
        retrained(plan.options.study_dir, baseline_1, 0.96, [2], restore),
        retrained(plan.options.study_dir, baseline_2, 0.98, [], None),
    ]
    results = write_results(plan, {})
    assert results["retrained_with_dev"] == {"ner": {"baseline+dev": {
        "1": {"test_f1": 96.0, "test_f1_per_type": {"PER": 50.0}, "epochs": 3,
              "stage_starts": [2], "restored": [0, 1], "train_seconds": 120.0,
              "evaluate_seconds": 10.0, "training_duration_seconds": 120.0},
        "2": {"test_f1": 98.0, "test_f1_per_type": {"PER": 50.0}, "epochs": 3,
              "stage_starts": [], "restored": None, "train_seconds": 120.0,
              "evaluate_seconds": 10.0, "training_duration_seconds": 120.0},
    }}}  # fmt: skip
    assert sorted(results["taggers"]["ner"]) == ["baseline", "taglm_cached", "taglm_cached@lm0.5"]
    accuracy = json.loads((plan.options.study_dir / "accuracy.json").read_text())
    assert accuracy["ner"]["baseline+dev"] == {"seeds": [1, 2], "test_f1": [96.0, 98.0]}
    assert accuracy["ner"]["baseline"]["test_f1"] == [85.0, 87.0]
    write_report(results, plan.options.study_dir)
    report = (plan.options.study_dir / "report.md").read_text()
    train_only, with_dev = report.split("## Trained on train+dev")
    assert "baseline+dev" not in train_only
    assert "| baseline | 2 | 91.00 ± 1.41 | 86.00 ± 1.41 |" in train_only
    assert "8 tagger runs" in train_only
    assert "### ner\n\n| config | seeds | test F1 | epochs |" in with_dev
    assert "| baseline+dev | 2 | 97.00 ± 1.41 | 3.0 ± 0.0 | 2; – | 2.0 ± 0.0 |" in with_dev
