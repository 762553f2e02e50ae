"""
`report.md` of a study's results (`taglm_plugin.study.results`): per task, mean ± std over the
seeds (sample standard deviation) of dev and test F1, per-type test F1, best epoch, epochs and
training time; the LMs; the runs without results; and PNG plots drawn with matplotlib's Agg
backend: `dev_f1_TASK.png` (dev F1 per epoch of every run), `test_f1_TASK.png` (test F1 per
config, a dot per seed, mean ± std) and `lm_perplexity.png` (held-out perplexity over training
time). Without matplotlib the report says that the plots are missing; a later invocation of
the study draws them.
"""
import datetime
import logging
import statistics
from pathlib import Path
from typing import Any, Dict, List, Sequence

logger = logging.getLogger(__name__)

REPORT_FILE = "report.md"
LM_PLOT = "lm_perplexity.png"


def dev_plot(task: str) -> str:
    return f"dev_f1_{task}.png"


def test_plot(task: str) -> str:
    return f"test_f1_{task}.png"


def mean_std(values: Sequence[float], digits: int = 2) -> str:
    """`mean ± std` (sample standard deviation) of `values`; the value alone for one, `–` for
    none."""
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(header: List[str], rows: List[List[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def task_section(task: str, configs: Dict[str, Dict[str, Dict[str, Any]]]) -> List[str]:
    rows, type_rows = [], []
    types = sorted({name for runs in configs.values() for run in runs.values()
                    for name in run["test_f1_per_type"]})  # fmt: skip
    for config, runs in configs.items():
        values = list(runs.values())

        def column(key: str, digits: int = 2) -> str:
            return mean_std([run[key] for run in values], digits)

        rows.append([
            config, str(len(values)), column("dev_f1"), column("test_f1"),
            column("best_epoch", 1), column("epochs", 1),
            mean_std([run["train_seconds"] / 60 for run in values], 1),
        ])  # fmt: skip
        type_rows.append([config] + [
            mean_std([run["test_f1_per_type"][name] for run in values
                      if name in run["test_f1_per_type"]])
            for name in types
        ])  # fmt: skip
    header = ["config", "seeds", "dev F1", "test F1", "best epoch", "epochs", "train min"]
    return (
        [f"## {task}", ""]
        + table(header, rows)
        + ["", "Test F1 per type:", ""]
        + table(["config"] + types, type_rows)
        + ["", f"![dev F1 per epoch]({dev_plot(task)})", "", f"![test F1]({test_plot(task)})", ""]
    )


def lm_section(lms: Dict[str, Dict[str, Any]]) -> List[str]:
    rows = [
        [
            direction, f"{lm['tokens_seen']:,}", f"{lm['tokens_per_second']:,.0f}",
            f"{lm['train_seconds']:.0f}", str(lm["epochs"]), f"{lm['best_perplexity']:.1f}",
        ]  # fmt: skip
        for direction, lm in lms.items()
    ]
    header = ["direction", "tokens seen", "tokens/s", "train s", "epochs", "held-out perplexity"]
    return (
        ["## Language models", ""]
        + table(header, rows)
        + ["", f"![LM perplexity over time]({LM_PLOT})", ""]
    )


def write_plots(results: Dict[str, Any], directory: Path) -> None:
    """Draws the plots (see the module's docstring) into `directory`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    for task, configs in results["taggers"].items():
        figure, axes = pyplot.subplots(figsize=(7, 4.5))
        for index, (config, runs) in enumerate(configs.items()):
            for seed_index, run in enumerate(runs.values()):
                scores = run["dev_f1_per_epoch"]
                label = config if seed_index == 0 else None
                axes.plot(range(len(scores)), scores, color=f"C{index}", alpha=0.7, label=label)
        axes.set(title=f"{task}: dev F1 per epoch (every seed)", xlabel="epoch",
                 ylabel="dev F1 (%)")  # fmt: skip
        axes.legend()
        figure.tight_layout()
        figure.savefig(directory / dev_plot(task), dpi=100)
        pyplot.close(figure)

        figure, axes = pyplot.subplots(figsize=(max(4, 1.5 * len(configs)), 4.5))
        for index, runs in enumerate(configs.values()):
            scores = [run["test_f1"] for run in runs.values()]
            axes.scatter([index] * len(scores), scores, color=f"C{index}", alpha=0.6, zorder=2)
            std = statistics.stdev(scores) if len(scores) > 1 else 0.0
            axes.errorbar(index + 0.15, statistics.mean(scores), yerr=std, fmt="_", color="black",
                          capsize=6, markersize=14, zorder=3)  # fmt: skip
        axes.set_xticks(range(len(configs)), list(configs), rotation=20)
        axes.set(title=f"{task}: test F1", xlabel="dots: seeds; bar: mean ± std",
                 ylabel="test F1 (%)")  # fmt: skip
        figure.tight_layout()
        figure.savefig(directory / test_plot(task), dpi=100)
        pyplot.close(figure)
    if results["lms"]:
        figure, axes = pyplot.subplots(figsize=(7, 4.5))
        for direction, lm in results["lms"].items():
            points = lm["perplexity_over_time"]
            axes.plot([p["seconds"] for p in points], [p["perplexity"] for p in points],
                      marker="o", label=direction)  # fmt: skip
        axes.set(title="LM held-out perplexity", xlabel="training time (s)", ylabel="perplexity",
                 yscale="log")  # fmt: skip
        axes.legend()
        figure.tight_layout()
        figure.savefig(directory / LM_PLOT, dpi=100)
        pyplot.close(figure)


def write_report(results: Dict[str, Any], directory: Path) -> None:
    """Writes `report.md` and the plots into `directory`."""
    finished = sum(
        len(runs) for configs in results["taggers"].values() for runs in configs.values()
    )
    lines = [
        "# TagLM study",
        "",
        f"{finished} tagger runs and {len(results['lms'])} LMs finished, "
        f"{len(results['missing'])} runs without results "
        f"({datetime.datetime.now():%Y-%m-%d %H:%M}). F1 in percent: mean ± sample standard "
        "deviation over the seeds; every model selected on dev and evaluated once on test. "
        "Every run: results.json; F1 per seed: accuracy.json.",
        "",
    ]
    try:
        write_plots(results, directory)
    except ImportError as error:
        logger.warning("No plots: %s", error)
        lines += [f"**Plots not drawn**: {error} (matplotlib is in requirements.txt).", ""]
    for task, configs in results["taggers"].items():
        lines += task_section(task, configs)
    if results["lms"]:
        lines += lm_section(results["lms"])
    if results["missing"]:
        lines += ["## Runs without results", ""]
        lines += [f"* {name}: {why}" for name, why in results["missing"].items()] + [""]
    (directory / REPORT_FILE).write_text("\n".join(lines))
