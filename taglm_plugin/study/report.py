"""
`report.md` of a study's results (`taglm_plugin.study.results`): per task, mean ± std over the
seeds (sample standard deviation) of dev and test F1, per-type test F1, best epoch, epochs and
training time; the LMs; the runs without results; and PNG plots drawn with matplotlib's Agg
backend: `dev_f1_TASK.png` (dev F1 per epoch of every run), `test_f1_TASK.png` (test F1 per
config, a dot per seed, mean ± std) and `lm_perplexity.png` (held-out perplexity over training
time). With LM snapshots (`--lm-snapshots`), the section "LM budget vs TagLM F1": per task, a
row per LM budget (each snapshot, then the final LMs: their seconds, tokens seen and held-out
perplexity, and TagLM's dev and test F1 with them) and the baseline's F1, and
`lm_budget_f1.png` (test F1 against the perplexity, a dot per seed and the mean ± std, per
task). With runs trained on train+dev (`--retrain-with-dev`), the section "Trained on
train+dev": per task, a row `CONFIG+dev` per config (test F1, epochs, the epochs at which the
learning rate dropped, per seed, and training time), apart from the train-only tables and
plots. With `--variants`, the section "Selected on dev": per task and config, a row per
candidate (its overrides, dev F1 per seed and their mean ± std, whether selected). The
section "Against the paper": per task, the test F1 of the baseline and TagLM
(`taglm_cached`) and TagLM's gain, beside Peters et al.'s (2017) and the difference. Without
matplotlib the report says that the plots are missing; a later invocation of
the study draws them.
"""
import datetime
import json
import logging
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence

from taglm_plugin.lm.conventions import DIRECTIONS
from taglm_plugin.study.plan import BASELINE_CONFIG, SNAPSHOT_CONFIG, TAGLM_CONFIG
from taglm_plugin.study.selection import left_out

logger = logging.getLogger(__name__)

REPORT_FILE = "report.md"
# Peters et al. (2017): test F1 mean ± std of their baseline and of TagLM.
PAPER_TEST_F1 = {
    "ner": {"baseline": (90.87, 0.13), "TagLM": (91.93, 0.19)},
    "chunking": {"baseline": (95.00, 0.08), "TagLM": (96.37, 0.05)},
}
LM_PLOT = "lm_perplexity.png"
BUDGET_PLOT = "lm_budget_f1.png"


@dataclass
class LmBudget:
    """An LM budget of the study: what names it, the TagLM config trained with its LMs, and
    the LMs' states (`taglm_plugin.study.results`' STATE) by direction."""

    label: str
    config: str
    lms: Dict[str, Dict[str, Any]]

    @property
    def mean_perplexity(self) -> float:
        """The mean of the directions' held-out perplexities."""
        return statistics.mean(self.lms[direction]["perplexity"] for direction in DIRECTIONS)


def lm_budgets(results: Dict[str, Any]) -> List[LmBudget]:
    """The LM snapshots, by fraction, then the final LMs; none without snapshots."""
    snapshots = sorted(results["lm_snapshots"].values(), key=lambda snapshot: snapshot["fraction"])
    if not snapshots:
        return []
    budgets = [
        LmBudget(f"{snapshot['fraction']:g} of the budget", snapshot["config"], snapshot["lms"])
        for snapshot in snapshots
    ]
    final = {direction: lm["exported"] for direction, lm in results["lms"].items()}
    return budgets + [LmBudget("final", SNAPSHOT_CONFIG, final)]


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


def paper_section(taggers: Dict[str, Dict[str, Dict[str, Dict[str, Any]]]]) -> List[str]:
    """The section "Against the paper" (see the module's docstring); none without a task of
    the paper that has the baseline or TagLM."""
    rows = []
    for task, paper in PAPER_TEST_F1.items():
        means = {}
        for row, config in (("baseline", BASELINE_CONFIG), ("TagLM", TAGLM_CONFIG)):
            runs = taggers.get(task, {}).get(config)
            if not runs:
                continue
            values = [run["test_f1"] for run in runs.values()]
            means[row] = statistics.mean(values)
            paper_mean, paper_std = paper[row]
            rows.append([
                task, f"{row} (`{config}`)", mean_std(values),
                f"{paper_mean:.2f} ± {paper_std:.2f}", f"{means[row] - paper_mean:+.2f}",
            ])  # fmt: skip
        if len(means) == 2:
            gain = means["TagLM"] - means["baseline"]
            paper_gain = paper["TagLM"][0] - paper["baseline"][0]
            rows.append([task, "gain", f"{gain:+.2f}", f"{paper_gain:+.2f}",
                         f"{gain - paper_gain:+.2f}"])  # fmt: skip
    if not rows:
        return []
    header = ["task", "", "this study: test F1", "paper: test F1", "difference"]
    return [
        "## Against the paper",
        "",
        "Peters et al. (2017), test F1 mean ± std (NER: CoNLL-2003; chunking: CoNLL-2000); the "
        "gain is the difference of the means. Here: the train-only runs of this study.",
        "",
    ] + table(header, rows) + [""]


def retrained_section(retrained: Dict[str, Dict[str, Dict[str, Dict[str, Any]]]]) -> List[str]:
    """The section "Trained on train+dev" (see the module's docstring)."""
    lines = [
        "## Trained on train+dev",
        "",
        "CONFIG+dev: the run CONFIG of the same seed trained again from the start on the "
        "training and the dev data (NER: eng.train and eng.testa; chunking: all of train.txt, "
        "the held-out sentences included) for the epochs that the train-only run trained up "
        "to its best dev epoch, with its learning-rate schedule replayed (the same drops at "
        "the same epochs, the same restore of the best weights), without validation, then "
        "evaluated once on test. Not selected on dev, and not in the train-only tables above. "
        "Test F1: mean ± std over the seeds.",
        "",
    ]
    header = ["config", "seeds", "test F1", "epochs", "lr drops at epoch (per seed)",
              "train min"]  # fmt: skip
    for task, configs in retrained.items():
        rows = []
        for config, runs in configs.items():
            values = [runs[seed] for seed in sorted(runs, key=int)]
            drops = "; ".join(", ".join(map(str, run["stage_starts"])) or "–" for run in values)
            rows.append([
                config, str(len(values)), mean_std([run["test_f1"] for run in values]),
                mean_std([run["epochs"] for run in values], 1), drops,
                mean_std([run["train_seconds"] / 60 for run in values], 1),
            ])  # fmt: skip
        lines += [f"### {task}", ""] + table(header, rows) + [""]
    return lines


def selection_section(selections: Dict[str, Dict[str, Dict[str, Any]]]) -> List[str]:
    """The section "Selected on dev" (see the module's docstring)."""
    lines = [
        "## Selected on dev",
        "",
        "Each config with variants (`--variants`: CONFIG~VARIANT, the config with those "
        "allennlp overrides) trained with every seed; the candidate of the highest mean dev F1 "
        "(among those trained with every seed) is selected and only its models and the "
        "config's own are evaluated on test (in the tables above).",
        "",
    ]
    header = ["config", "overrides", "dev F1 per seed", "dev F1", "selected"]
    for task, configs in selections.items():
        for config, selection in configs.items():
            rows = [
                [
                    name,
                    ", ".join(f"`{key}`: {json.dumps(value)}"
                              for key, value in candidate["overrides"].items()) or "–",
                    " / ".join(f"{f1:.2f}" for f1 in candidate["dev_f1"]),
                    mean_std(candidate["dev_f1"]),
                    "**yes**" if name == selection["selected"] else "",
                ]  # fmt: skip
                for name, candidate in selection["candidates"].items()
            ]
            lines += [f"### {task}: {config}", ""] + table(header, rows) + [""]
            for line in left_out(selection):
                lines += [f"{line}.", ""]
    return lines


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


def budget_section(results: Dict[str, Any], budgets: List[LmBudget]) -> List[str]:
    """The table "LM budget vs TagLM F1" of every task (see the module's docstring)."""
    lines = [
        "## LM budget vs TagLM F1",
        "",
        "TagLM trained with the LMs at points of their training: a snapshot is the LMs' state "
        "at the last validation (epoch end) at or before that fraction of the LM budget (the "
        "first one if none is), the final LMs the best epoch's (what taglm_cached loads). "
        "Seconds: LM training time at that epoch; perplexity: held out, measured there. F1: "
        "mean ± std over the seeds.",
        "",
    ]
    pair = " / ".join(DIRECTIONS)
    header = ["LM", "TagLM config", f"LM s ({pair})", f"tokens seen ({pair})"]
    header += [f"perplexity {direction}" for direction in DIRECTIONS]
    header += ["seeds", "dev F1", "test F1"]
    for task, configs in results["taggers"].items():
        rows = []
        for budget in budgets + [LmBudget("baseline (no LM)", "baseline", {})]:
            runs = list(configs.get(budget.config, {}).values())
            states = [budget.lms[direction] for direction in DIRECTIONS] if budget.lms else []
            rows.append(
                [budget.label, budget.config]
                + [" / ".join(f"{state['seconds']:.0f}" for state in states) or "–"]
                + [" / ".join(f"{state['tokens_seen']:,}" for state in states) or "–"]
                + ([f"{state['perplexity']:.1f}" for state in states] or ["–"] * len(DIRECTIONS))
                + [str(len(runs)), mean_std([run["dev_f1"] for run in runs])]
                + [mean_std([run["test_f1"] for run in runs])]
            )
        lines += [f"### {task}", ""] + table(header, rows) + [""]
    return lines + [f"![test F1 against LM perplexity]({BUDGET_PLOT})", ""]


def write_budget_plot(results: Dict[str, Any], budgets: List[LmBudget], path: Path) -> None:
    """`lm_budget_f1.png` (see the module's docstring) at `path`."""
    from matplotlib import pyplot

    tasks = list(results["taggers"])
    figure, all_axes = pyplot.subplots(1, len(tasks), figsize=(5 * len(tasks), 4.5), squeeze=False)
    for axes, task in zip(all_axes[0], tasks):
        configs = results["taggers"][task]
        means = []
        for index, budget in enumerate(budgets):
            scores = [run["test_f1"] for run in configs.get(budget.config, {}).values()]
            if not scores:
                continue
            x = budget.mean_perplexity
            axes.scatter([x] * len(scores), scores, color=f"C{index}", alpha=0.6, zorder=2,
                         label=f"{budget.label} (seeds)")  # fmt: skip
            std = statistics.stdev(scores) if len(scores) > 1 else 0.0
            axes.errorbar(x, statistics.mean(scores), yerr=std, fmt="_", color="black",
                          capsize=6, markersize=14, zorder=3,
                          label=None if means else "mean ± std")  # fmt: skip
            means.append((x, statistics.mean(scores)))
        if means:
            axes.plot(*zip(*means), color="black", linewidth=0.8, zorder=1)
        baseline = [run["test_f1"] for run in configs.get("baseline", {}).values()]
        if baseline:
            axes.axhline(statistics.mean(baseline), color="gray", linestyle="--",
                         label="baseline (mean)")  # fmt: skip
        axes.set(title=f"{task}: TagLM test F1 by LM budget",
                 xlabel="held-out LM perplexity (mean of the two directions)",
                 ylabel="test F1 (%)")  # fmt: skip
        axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


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
    budgets = lm_budgets(results)
    if budgets:
        write_budget_plot(results, budgets, directory / BUDGET_PLOT)


def setup_section(invocations: List[Dict[str, Any]]) -> List[str]:
    """How and where the study ran: one line per invocation on its directory."""
    lines = ["## Setup", ""]
    for invocation in invocations:
        device = invocation["gpu"] or "the CPU"
        lines.append(
            f"* {invocation['started']}: `{invocation['command']}` (commit "
            f"{invocation['commit']}) on {device}, {invocation['cpu_cores']} CPU cores, "
            f"Python {invocation['python']}, torch {invocation['torch']}"
        )
    return lines + [""]


def write_report(results: Dict[str, Any], directory: Path) -> None:
    """Writes `report.md` and the plots into `directory`."""
    finished = sum(
        len(runs)
        for part in ("taggers", "retrained_with_dev")
        for configs in results[part].values()
        for runs in configs.values()
    )
    lines = [
        "# TagLM study",
        "",
        f"{finished} tagger runs and {len(results['lms'])} LMs finished, "
        f"{len(results['missing'])} runs without results "
        f"({datetime.datetime.now():%Y-%m-%d %H:%M}). F1 in percent: mean ± sample standard "
        "deviation over the seeds; every model selected on dev (but those trained on "
        "train+dev, in their own section) and evaluated once on test. "
        "Every run: results.json; F1 per seed: accuracy.json.",
        "",
    ]
    if results["invocations"]:
        lines += setup_section(results["invocations"])
    try:
        write_plots(results, directory)
    except ImportError as error:
        logger.warning("No plots: %s", error)
        lines += [f"**Plots not drawn**: {error} (matplotlib is in requirements.txt).", ""]
    lines += paper_section(results["taggers"])
    for task, configs in results["taggers"].items():
        lines += task_section(task, configs)
    if results["selections"]:
        lines += selection_section(results["selections"])
    if results["retrained_with_dev"]:
        lines += retrained_section(results["retrained_with_dev"])
    if results["lms"]:
        lines += lm_section(results["lms"])
    budgets = lm_budgets(results)
    if budgets:
        lines += budget_section(results, budgets)
    if results["missing"]:
        lines += ["## Runs without results", ""]
        lines += [f"* {name}: {why}" for name, why in results["missing"].items()] + [""]
    (directory / REPORT_FILE).write_text("\n".join(lines))
