"""
`taglm_plugin.study.selection`: the dev selection among a config and its variants, which
evaluates a variant's run on test only if that variant is selected; and how `results.json` and
`report.md` show it.
"""
import json
import sys
from pathlib import Path

from taglm_plugin.study.plan import Job, Plan, Selection, Step, StudyOptions, marker
from taglm_plugin.study.report import write_report
from taglm_plugin.study.results import write_results
from taglm_plugin.study.selection import main, select
from tests.study.test_results_report import tagger, write

# Dev F1 per seed: `~wide` has the highest mean (0.92), `~narrow` the same mean as the config.
DEV_F1 = {"taglm": [0.90, 0.92], "taglm~wide": [0.93, 0.91], "taglm~narrow": [0.91, 0.91]}


def candidates(runs: Path, names, seeds: int = 2):
    for name in names:
        for seed in range(1, seeds + 1):
            write(runs / name / f"seed{seed}" / "metrics.json",
                  {"best_validation_f1-measure-overall": DEV_F1[name][seed - 1]})  # fmt: skip
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
    }
    assert select(directories[:2], 2)["selected"] == "taglm"
    assert select(directories[1::-1], 2)["selected"] == "taglm~narrow"
    # Only the seeds asked for count.
    assert select(directories, 1)["selected"] == "taglm~wide"
    assert select(directories[:2], 1)["selected"] == "taglm~narrow"


def test_only_the_selected_variant_runs_its_evaluation(tmp_path, capsys):
    directories = [str(path) for path in candidates(tmp_path, ["taglm", "taglm~wide",
                                                               "taglm~narrow"])]  # fmt: skip
    selection_file = tmp_path / "taglm~selection.json"
    evaluated = tmp_path / "evaluated"
    evaluate = [sys.executable, "-c", f"open({str(evaluated)!r}, 'w').write('yes')"]
    assert main([str(selection_file), "taglm~narrow", "2", *directories, "--", *evaluate]) == 0
    assert not evaluated.exists()
    assert "taglm~narrow is not selected" in capsys.readouterr().out
    assert json.loads(selection_file.read_text())["selected"] == "taglm~wide"
    assert main([str(selection_file), "taglm~wide", "2", *directories, "--", *evaluate]) == 0
    assert evaluated.read_text() == "yes"
    failing = [sys.executable, "-c", "import sys; sys.exit(3)"]
    assert main([str(selection_file), "taglm~wide", "2", *directories, "--", *failing]) == 3
    assert main([str(selection_file), "taglm~wide"]) == 2


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
    names = ["taglm", "taglm~wide", "taglm~narrow"]
    overrides = {"taglm~wide": {"model.encoder.hidden_sizes": [400, 400]},
                 "taglm~narrow": {"model.dropout": 0.1}}  # fmt: skip
    selection = Selection("ner", "taglm", names, overrides, 2, runs.parent / "s.json")
    write(selection.file, select([runs / name for name in names], 2))
    plan = Plan(StudyOptions(root), [], jobs, parallel=1, selections=[selection])
    results = write_results(plan, {})
    assert sorted(results["taggers"]["ner"]) == ["taglm", "taglm~wide"]
    assert results["missing"] == {}
    made = results["selections"]["ner"]["taglm"]
    assert made["selected"] == "taglm~wide"
    assert made["candidates"]["taglm"]["overrides"] == {}
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
