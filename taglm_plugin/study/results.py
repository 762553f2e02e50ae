"""
A study's results, read from its run directories: `results.json` holds every finished run,
`accuracy.json` the F1 scores in the format of docs/results/accuracy.json. F1 scores are in
percent (rounded to 2 decimals), times in seconds.

`results.json`:

    {"taggers": {TASK: {CONFIG: {SEED: {
         "dev_f1", "test_f1", "dev_f1_per_type": {TYPE: F1}, "test_f1_per_type",
         "best_epoch", "epochs", "dev_f1_per_epoch": [F1 of epoch 0, ...],
         "train_seconds", "evaluate_seconds" (wall times of the subprocesses),
         "training_duration_seconds" (allennlp's: its epochs, not what callbacks do before
         them, such as the LM cache's warm-up)}}}},
     "lms": {DIRECTION: {
         "tokens_seen", "tokens_per_second" (taglm_token_throughput, last epoch), "epochs",
         "train_seconds", "export_seconds", "best_perplexity" (held out),
         "perplexity_over_time": [{"epoch", "seconds", "perplexity"}, ...],
         "exported": STATE (the best epoch, whose weights model.tar.gz holds)}},
     "lm_snapshots": {"lmF": {"fraction": F, "config" (TagLM with the snapshots, e.g.
         "taglm_cached@lm0.5", under "taggers"), "lms": {DIRECTION: STATE}}},
     "retrained_with_dev": {TASK: {CONFIG+dev: {SEED: {
         "test_f1", "test_f1_per_type", "epochs" (the train-only run's best epoch + 1),
         "stage_starts" (the epochs that started at a lower learning rate),
         "restored": [SAVE_EPOCH, RESTORE_EPOCH] or null (the weights of SAVE_EPOCH restored
         after RESTORE_EPOCH), "train_seconds", "evaluate_seconds",
         "training_duration_seconds"}}}},
     "selections": {TASK: {CONFIG: {"selected": NAME, "candidates": {NAME: {
         "overrides" (the variant's; {} for CONFIG), "seeds", "dev_f1": [per seed],
         "mean_dev_f1"}}, "not_trained": {NAME: [seeds that failed to train]}}}},
     "missing": {RUN: why it has no results},
     "invocations": [{"started", "command", "commit", "gpu", "cpu_cores", "python",
         "torch"}, ...] (`invocations.py`)}

where an LM's STATE at an epoch is `{"epoch", "seconds" (allennlp's training_duration at its
end), "tokens_seen" (taglm_token_throughput), "perplexity" (held out, measured there)}`;
`lm_snapshots` has the LM snapshots (`--lm-snapshots`) whose LMs finished;
`retrained_with_dev` the runs trained again on train+dev (`--retrain-with-dev`), kept apart
from the train-only runs of `taggers`; `selections` the dev selections among configs and their
`--variants` (`taglm_plugin.study.selection`): `taggers` has a variant's runs only if it was
selected (the others were not evaluated on test).

`accuracy.json`: `{TASK: {CONFIG: {"seeds": [...], "dev_f1": [...], "test_f1": [...]}}}`, and
`{TASK: {CONFIG+dev: {"seeds": [...], "test_f1": [...]}}}` for the runs trained on train+dev
(whose dev F1 would be measured on their training data).
"""
import re
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

from taglm_plugin.study.invocations import read_invocations
from taglm_plugin.study.json_files import read_json, write_json
from taglm_plugin.study.plan import (
    Job,
    Plan,
    marker,
    snapshot_config,
    snapshot_name,
    snapshot_record,
)

RESULTS_FILE = "results.json"
ACCURACY_FILE = "accuracy.json"
_DURATION = re.compile(r"(?:(\d+) days?, )?(\d+):(\d\d):(\d\d(?:\.\d+)?)$")


def duration_seconds(duration: str) -> float:
    """Seconds of allennlp's `training_duration`, the `str` of a `timedelta`
    (`[D day[s], ]H:MM:SS[.f]`)."""
    match = _DURATION.match(duration)
    if match is None:
        raise ValueError(f"not a training_duration: {duration!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def percent(value: float) -> float:
    return round(100 * value, 2)


def per_epoch(directory: Path, prefix: str) -> List[Dict[str, Any]]:
    """The `PREFIX_N.json` files of `directory` (allennlp's `metrics_epoch`), by epoch."""
    paths = {
        int(path.stem.removeprefix(f"{prefix}_")): path
        for path in directory.glob(f"{prefix}_*.json")
    }
    return [read_json(paths[epoch]) for epoch in sorted(paths)]


def wall_seconds(job: Job, step_name: str) -> float:
    """The wall time of a finished step of `job`, from its marker."""
    return read_json(marker(job.directory, step_name))["wall_seconds"]


def f1_per_type(metrics: Dict[str, Any], prefix: str) -> Dict[str, float]:
    return {
        key.removeprefix(prefix): percent(value)
        for key, value in sorted(metrics.items())
        if key.startswith(prefix) and key != prefix + "overall"
    }


def tagger_result(job: Job) -> Dict[str, Any]:
    """The results of a finished tagger run (see the module's docstring)."""
    metrics = read_json(job.directory / "metrics.json")
    test = read_json(job.directory / "test_metrics.json")
    return {
        "dev_f1": percent(metrics["best_validation_f1-measure-overall"]),
        "test_f1": percent(test["f1-measure-overall"]),
        "dev_f1_per_type": f1_per_type(metrics, "best_validation_f1-measure-"),
        "test_f1_per_type": f1_per_type(test, "f1-measure-"),
        "best_epoch": metrics["best_epoch"],
        "epochs": metrics["epoch"] + 1,
        "dev_f1_per_epoch": [
            percent(epoch["validation_f1-measure-overall"])
            for epoch in per_epoch(job.directory, "metrics_epoch")
        ],
        "train_seconds": wall_seconds(job, "train"),
        "evaluate_seconds": wall_seconds(job, "evaluate"),
        "training_duration_seconds": duration_seconds(metrics["training_duration"]),
    }


def retrained_result(job: Job) -> Dict[str, Any]:
    """The results of a finished run trained on train+dev (see the module's docstring)."""
    metrics = read_json(job.directory / "metrics.json")
    test = read_json(job.directory / "test_metrics.json")
    trainer = read_json(job.directory / "config.json")["trainer"]
    restored = next(
        ([c["save_epoch"], c["restore_epoch"]] for c in trainer["callbacks"]
         if isinstance(c, dict) and c["type"] == "taglm_replay_restore"),
        None,
    )  # fmt: skip
    return {
        "test_f1": percent(test["f1-measure-overall"]),
        "test_f1_per_type": f1_per_type(test, "f1-measure-"),
        "epochs": metrics["epoch"] + 1,
        "stage_starts": trainer["learning_rate_scheduler"]["stage_starts"],
        "restored": restored,
        "train_seconds": wall_seconds(job, "train"),
        "evaluate_seconds": wall_seconds(job, "evaluate"),
        "training_duration_seconds": duration_seconds(metrics["training_duration"]),
    }


def lm_state(directory: Path, epoch: int) -> Dict[str, Any]:
    """The STATE (see the module's docstring) of the LM trained in `directory` at `epoch`."""
    metrics = read_json(directory / f"metrics_epoch_{epoch}.json")
    return {
        "epoch": epoch,
        "seconds": duration_seconds(metrics["training_duration"]),
        "tokens_seen": read_json(directory / f"throughput_epoch_{epoch}.json")["tokens_seen"],
        "perplexity": metrics["validation_perplexity"],
    }


def lm_result(job: Job) -> Dict[str, Any]:
    """The results of a finished LM run (see the module's docstring)."""
    metrics = read_json(job.directory / "metrics.json")
    throughput = per_epoch(job.directory, "throughput_epoch")[-1]
    return {
        "tokens_seen": throughput["tokens_seen"],
        "tokens_per_second": throughput["tokens_per_second"],
        "epochs": metrics["epoch"] + 1,
        "train_seconds": wall_seconds(job, "train"),
        "export_seconds": wall_seconds(job, "export"),
        "best_perplexity": metrics["best_validation_perplexity"],
        "perplexity_over_time": [
            {
                "epoch": epoch["epoch"],
                "seconds": duration_seconds(epoch["training_duration"]),
                "perplexity": epoch["validation_perplexity"],
            }
            for epoch in per_epoch(job.directory, "metrics_epoch")
        ],
        "exported": lm_state(job.directory, metrics["best_epoch"]),
    }


def snapshot_results(plan: Plan) -> Dict[str, Any]:
    """`lm_snapshots` (see the module's docstring) of the plan's finished LMs."""
    if not plan.lm_jobs or not all(job.is_done for job in plan.lm_jobs):
        return {}
    return {
        snapshot_name(fraction): {
            "fraction": fraction,
            "config": snapshot_config(fraction),
            "lms": {
                job.config: lm_state(
                    job.directory, read_json(snapshot_record(job.directory, fraction))["epoch"]
                )
                for job in plan.lm_jobs
            },
        }
        for fraction in plan.lm_snapshots
    }


def selection_results(plan: Plan) -> Dict[str, Any]:
    """`selections` (see the module's docstring): those made, with the variants' overrides."""
    results: Dict[str, Any] = {}
    for selection in plan.selections:
        if selection.file.is_file():
            made = read_json(selection.file)
            for name, candidate in made["candidates"].items():
                candidate["overrides"] = selection.variants.get(name, {})
            results.setdefault(selection.task, {})[selection.config] = made
    return results


def not_selected(selections: Dict[str, Any]) -> Set[Tuple[str, str]]:
    """`(task, CONFIG~VARIANT)` of the variants that their dev selection (`selection_results`)
    did not select, those left out of it included (a variant of the same name may be selected
    for another task)."""
    return {
        (task, name)
        for task, configs in selections.items()
        for config, made in configs.items()
        for name in [*made["candidates"], *made.get("not_trained", {})]
        if name not in (config, made["selected"])
    }


def collect(plan: Plan, failed: Dict[str, str]) -> Dict[str, Any]:
    """The results of the plan's finished runs; the others, with `failed`'s reasons, under
    `missing`."""
    results: Dict[str, Any] = {"taggers": {}, "lms": {}, "lm_snapshots": snapshot_results(plan),
                               "retrained_with_dev": {}, "selections": selection_results(plan),
                               "missing": {}}  # fmt: skip
    unselected = not_selected(results["selections"])
    for job in plan.jobs:
        if (job.task, job.config) in unselected and job.is_done:
            continue  # not evaluated on test; its dev F1 is in `selections`
        if not job.is_done:
            results["missing"][job.name] = failed.get(job.name, "not finished")
        elif job.task != "lm" and not (job.directory / "test_metrics.json").is_file():
            results["missing"][job.name] = "finished, but its test_metrics.json is missing"
        elif job.task == "lm":
            results["lms"][job.config] = lm_result(job)
        elif job.retrains is not None:
            runs = results["retrained_with_dev"].setdefault(job.task, {})
            runs.setdefault(job.config, {})[str(job.seed)] = retrained_result(job)
        else:
            runs = results["taggers"].setdefault(job.task, {}).setdefault(job.config, {})
            runs[str(job.seed)] = tagger_result(job)
    return results


def accuracy(results: Dict[str, Any]) -> Dict[str, Any]:
    """`accuracy.json` of `results` (see the module's docstring)."""
    summary: Dict[str, Any] = {}
    for part, scores in (("taggers", ("dev_f1", "test_f1")), ("retrained_with_dev", ("test_f1",))):
        for task, configs in results[part].items():
            for config, runs in configs.items():
                seeds = sorted(runs, key=int)
                summary.setdefault(task, {})[config] = {
                    "seeds": [int(seed) for seed in seeds],
                    **{score: [runs[seed][score] for seed in seeds] for score in scores},
                }
    return summary


def write_results(plan: Plan, failed: Dict[str, str]) -> Dict[str, Any]:
    """Writes `results.json` and `accuracy.json` into the study directory; returns the results."""
    study_dir = plan.options.study_dir
    results = {**collect(plan, failed), "invocations": read_invocations(study_dir)}
    write_json(study_dir / RESULTS_FILE, results)
    write_json(study_dir / ACCURACY_FILE, accuracy(results))
    return results
