"""
The tables of docs/RESULTS.md of 2026-12-03 from the runs' metrics (this directory's runs/, as
scripts/gpu_runs.sh packs them), and their per-seed figures merged into
docs/results/accuracy.json (`{task: {config: {dev_f1, test_f1, seeds}}}`, F1 in percent).

    python docs/results/accuracy_2026-12-03/summarize.py
"""
import json
import statistics
from pathlib import Path

HERE = Path(__file__).parent
ACCURACY = HERE.parent / "accuracy.json"
# The runs named after a config of training_configs/TASK (taglm: taglm_cached.jsonnet, the same
# model with the LM states cached across epochs).
CONFIGS = ("baseline", "taglm")


def runs():
    """{(task, name): [(seed, dev F1, test F1, epochs, best epoch)]}, F1 in percent."""
    found = {}
    for metrics_file in sorted((HERE / "runs").glob("*/*/seed*/metrics.json")):
        directory = metrics_file.parent
        test_file = directory / "test_metrics.json"
        if not test_file.exists():
            continue
        task, name = directory.parts[-3], directory.parts[-2]
        metrics = json.loads(metrics_file.read_text())
        test = json.loads(test_file.read_text())
        found.setdefault((task, name), []).append(
            (
                int(directory.name[4:]),
                100 * metrics["best_validation_f1-measure-overall"],
                100 * test["f1-measure-overall"],
                metrics["epoch"] + 1,
                metrics["best_epoch"],
            )
        )
    return found


def mean_std(values):
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {std:.2f}"


def main() -> None:
    accuracy = json.loads(ACCURACY.read_text())
    print("| task | config | seeds | dev F1 | test F1 | epochs (best) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (task, name), rows in sorted(runs().items()):
        rows.sort()
        seeds, dev, test = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
        epochs = ", ".join(f"{r[3]} ({r[4] + 1})" for r in rows)
        print(f"| {task} | `{name}` | {', '.join(map(str, seeds))} | {mean_std(dev)} | "
              f"**{mean_std(test)}** | {epochs} |")
        print("|  | per seed (dev / test) |  | " + "; ".join(
            f"{d:.2f} / {t:.2f}" for d, t in zip(dev, test)) + " |  |  |")
        if name not in CONFIGS:
            continue  # a dev-tuning variant, not one of training_configs/
        accuracy.setdefault(task, {})[name] = {
            "seeds": seeds,
            "dev_f1": [round(d, 2) for d in dev],
            "test_f1": [round(t, 2) for t in test],
        }
    ACCURACY.write_text(json.dumps(accuracy, indent=1) + "\n")


if __name__ == "__main__":
    main()
