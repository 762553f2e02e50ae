"""
`taglm_plugin.study.selection`: the dev selection among a config and its variants, which
evaluates a variant's run on test only if that variant is selected; and how `results.json` and
`report.md` show it.
"""
import json
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from taglm_plugin.study.plan import Job, Plan, Selection, Step, StudyOptions, marker
from taglm_plugin.study.json_files import read_json
from taglm_plugin.study.report import write_report
from taglm_plugin.study.results import write_results
from taglm_plugin.study.selection import main, select
from tests.conftest import REPO_ROOT
from tests.study.test_results_report import tagger, write

# Dev F1 per seed: `~wide` has the highest mean (0.92), `~narrow` the same mean as the config.
DEV_F1 = {"taglm": [0.90, 0.92], "taglm~wide": [0.93, 0.91], "taglm~narrow": [0.91, 0.91]}


def candidates(runs: Path, names, seeds: int = 2):
    for name in names:
        for seed in range(1, seeds + 1):
            write(runs / name / f"seed{seed}" / "metrics.json",
                  {"best_validation_f1-measure-overall": DEV_F1[name][seed - 1]})  # fmt: skip
            write(marker(runs / name / f"seed{seed}", "train"), {"wall_seconds": 1.0})
    return [runs / name for name in names]


def test_the_highest_mean_dev_f1_is_selected_the_first_listed_on_ties(tmp_path):
    directories = candidates(tmp_path, ["taglm", "taglm~narrow", "taglm~wide"])
    selection = select(directories, 2)
    assert selection == {
        "selected": "taglm~wide",
        "candidates": {
            "taglm": {"seeds": [1, 2], "dev_f1": [90.0, 92.0], "mean_dev_f1": 91.0},
            "taglm~narrow": {"seeds": [1, 2], "dev_f1": [91.0, 91.0], "mean_dev_f1": 91.0},
            "taglm~wide": {"seeds": [1, 2], "dev_f1": [93.0, 91.0], "mean_dev_f1": 92.0},
        },
        "not_trained": {},
    }
    assert select(directories[:2], 2)["selected"] == "taglm"
    assert select(directories[1::-1], 2)["selected"] == "taglm~narrow"
    # Only the seeds asked for count.
    assert select(directories, 1)["selected"] == "taglm~wide"
    assert select(directories[:2], 1)["selected"] == "taglm~narrow"


def test_a_candidate_with_a_run_that_did_not_train_is_left_out(tmp_path):
    """Its other seeds' dev F1 does not count; with no candidate left the step fails."""
    directories = candidates(tmp_path, ["taglm", "taglm~narrow", "taglm~wide"])
    marker(directories[2] / "seed2", "train").unlink()
    selection = select(directories, 2)
    assert selection["selected"] == "taglm"
    assert list(selection["candidates"]) == ["taglm", "taglm~narrow"]
    assert selection["not_trained"] == {"taglm~wide": [2]}
    assert select(directories, 1)["selected"] == "taglm~wide"
    for directory in directories[:2]:
        marker(directory / "seed1", "train").unlink()
    with pytest.raises(SystemExit, match="no candidate trained with every seed"):
        select(directories, 2)


def test_only_the_selected_variant_runs_its_evaluation(tmp_path):
    """The module as the study's step runs it: the evaluation command runs (in the module's
    place) only for the selected variant."""
    directories = [str(path) for path in candidates(tmp_path, ["taglm", "taglm~wide",
                                                               "taglm~narrow"])]  # fmt: skip
    selection_file = tmp_path / "taglm~selection.json"
    evaluated = tmp_path / "evaluated"
    evaluate = [sys.executable, "-c", f"open({str(evaluated)!r}, 'w').write('yes')"]

    def step(run: str, command: List[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "taglm_plugin.study.selection", str(selection_file), run,
             "2", *directories, "--", *command],
            cwd=REPO_ROOT, capture_output=True, text=True,
        )  # fmt: skip

    not_selected = step("taglm~narrow", evaluate)
    assert not_selected.returncode == 0 and not evaluated.exists()
    assert "taglm~narrow is not selected" in not_selected.stdout
    assert json.loads(selection_file.read_text())["selected"] == "taglm~wide"
    assert step("taglm~wide", evaluate).returncode == 0 and evaluated.read_text() == "yes"
    assert step("taglm~wide", [sys.executable, "-c", "import sys; sys.exit(3)"]).returncode == 3
    assert main([str(selection_file), "taglm~wide", "2", *directories, "--", "x"]) == ["x"]
    assert main([str(selection_file), "taglm", "2", *directories, "--", "x"]) is None
    # A selection once made stays, whatever the candidates' files say later.
    (tmp_path / "taglm~narrow" / "seed1" / "metrics.json").write_text(
        json.dumps({"best_validation_f1-measure-overall": 0.99})
    )
    assert main([str(selection_file), "taglm~wide", "2", *directories, "--", "x"]) == ["x"]
    assert main([str(selection_file), "taglm~narrow", "2", *directories, "--", "x"]) is None
    usage = subprocess.run([sys.executable, "-m", "taglm_plugin.study.selection", "x", "y"],
                           cwd=REPO_ROOT, capture_output=True, text=True)  # fmt: skip
    assert usage.returncode == 1 and "SELECTION_FILE RUN SEEDS" in usage.stderr


def test_results_and_report_of_a_selection(tmp_path):
    """`taggers` has the config's runs and the selected variant's, `selections` every
    candidate's dev F1 with its overrides; the report's section "Selected on dev"."""
    root = tmp_path / "study"
    runs = root / "runs" / "ner"
    jobs = [
        tagger(root, "ner", name, seed, [DEV_F1[name][seed - 1]], 0.9)
        for seed in (1, 2) for name in ("taglm", "taglm~wide")
    ]  # fmt: skip
    for seed in (1, 2):  # not selected: trained, its evaluate step ran without evaluating
        directory = runs / "taglm~narrow" / f"seed{seed}"
        write(directory / "metrics.json",
              {"best_validation_f1-measure-overall": DEV_F1["taglm~narrow"][seed - 1]})
        for step in ("train", "evaluate"):
            write(marker(directory, step), {"wall_seconds": 1.0})
        jobs.append(Job("ner", "taglm~narrow", seed, directory, {},
                        [Step("train", []), Step("evaluate", [])]))  # fmt: skip
    # Left out of the selection: its seed 2 failed to train.
    for seed, steps in ((1, ("train", "evaluate")), (2, ())):
        directory = runs / "taglm~deep" / f"seed{seed}"
        for step in steps:
            write(marker(directory, step), {"wall_seconds": 1.0})
        jobs.append(Job("ner", "taglm~deep", seed, directory, {},
                        [Step("train", []), Step("evaluate", [])]))  # fmt: skip
    names = ["taglm", "taglm~wide", "taglm~narrow", "taglm~deep"]
    overrides = {"taglm~wide": {"model.encoder.hidden_sizes": [400, 400]},
                 "taglm~narrow": {"model.dropout": 0.1},
                 "taglm~deep": {"model.encoder.hidden_sizes": [300, 300, 300]}}  # fmt: skip
    selection = Selection("ner", "taglm", overrides, 2, runs.parent / "s.json")
    write(selection.file, select([runs / name for name in names], 2))
    plan = Plan(StudyOptions(root), [], jobs, parallel=1, selections=[selection])
    results = write_results(plan, {"ner/taglm~deep/seed2": "train exited with status 1"})
    assert sorted(results["taggers"]["ner"]) == ["taglm", "taglm~wide"]
    assert results["missing"] == {"ner/taglm~deep/seed2": "train exited with status 1"}
    made = results["selections"]["ner"]["taglm"]
    assert made["selected"] == "taglm~wide"
    assert made["candidates"]["taglm"]["overrides"] == {}
    assert made["not_trained"] == {"taglm~deep": [2]}
    assert made["candidates"]["taglm~narrow"] == {
        "seeds": [1, 2], "dev_f1": [91.0, 91.0], "mean_dev_f1": 91.0,
        "overrides": {"model.dropout": 0.1},
    }  # fmt: skip
    accuracy = json.loads((root / "accuracy.json").read_text())
    assert sorted(accuracy["ner"]) == ["taglm", "taglm~wide"]
    write_report(results, root)
    report = (root / "report.md").read_text()
    assert "## Selected on dev" in report and "### ner: taglm" in report
    assert "| taglm~wide | `model.encoder.hidden_sizes`: [400, 400] | 93.00 / 91.00 | " \
           "92.00 ± 1.41 | **yes** |" in report
    assert "| taglm | – | 90.00 / 92.00 | 91.00 ± 1.41 |  |" in report
    assert "taglm~deep is left out: seed 2 had not trained when the selection was made." in report


def test_results_leave_out_only_the_variants_not_selected(tmp_path):
    """A finished run of the config without `test_metrics.json` is missing, not left out."""
    root = tmp_path / "study"
    runs = root / "runs" / "ner"
    jobs = [tagger(root, "ner", name, 1, [DEV_F1[name][0]], 0.9)
            for name in ("taglm", "taglm~wide")]  # fmt: skip
    (runs / "taglm~wide" / "seed1" / "test_metrics.json").unlink()
    (runs / "taglm" / "seed1" / "test_metrics.json").unlink()
    selection = Selection("ner", "taglm", {"taglm~wide": {}}, 1, runs / "s.json")
    plan = Plan(StudyOptions(root), [], jobs, parallel=1, selections=[selection])
    assert write_results(plan, {})["missing"] == {
        "ner/taglm/seed1": "finished, but its test_metrics.json is missing",
        "ner/taglm~wide/seed1": "finished, but its test_metrics.json is missing",
    }
    write(selection.file, select([runs / "taglm", runs / "taglm~wide"], 1))
    write(selection.file, dict(read_json(selection.file), selected="taglm"))
    results = write_results(plan, {})
    assert list(results["missing"]) == ["ner/taglm/seed1"] and results["taggers"] == {}


def test_a_variant_selected_for_one_task_only_is_in_that_tasks_results(tmp_path):
    """The same variant name for two tasks: selected for chunking, not for NER."""
    root = tmp_path / "study"
    jobs, selections = [], []
    for task, wide_dev_f1 in (("ner", 0.80), ("chunking", 0.99)):
        runs = root / "runs" / task
        jobs += [tagger(root, task, "taglm", 1, [0.90], 0.9),
                 tagger(root, task, "taglm~wide", 1, [wide_dev_f1], 0.9)]  # fmt: skip
        selection = Selection(task, "taglm", {"taglm~wide": {}}, 1, runs / "s.json")
        write(selection.file, select([runs / "taglm", runs / "taglm~wide"], 1))
        selections.append(selection)
    plan = Plan(StudyOptions(root), [], jobs, parallel=1, selections=selections)
    results = write_results(plan, {})
    assert [results["selections"][task]["taglm"]["selected"] for task in ("ner", "chunking")] \
        == ["taglm", "taglm~wide"]  # fmt: skip
    assert sorted(results["taggers"]["ner"]) == ["taglm"]
    assert sorted(results["taggers"]["chunking"]) == ["taglm", "taglm~wide"]
    assert results["missing"] == {}
