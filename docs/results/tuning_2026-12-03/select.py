"""
Which baseline variant of a task the tuning run keeps: the one with the highest mean dev F1
over seeds 1 and 2 (summary.tsv of scripts/gpu_runs.sh), or `default` when none beats the
configs' defaults of the time, whose dev F1 of seeds 1 and 2 come from the study of 2026-12-03
(docs/results/study_2026-12-03/accuracy.json, `baseline`). Test F1 is not read.

    python select.py SUMMARY.tsv TASK  ->  prints the variant's name
"""
import csv
import json
import statistics
import sys
from pathlib import Path

ACCURACY = Path(__file__).resolve().parents[1] / "study_2026-12-03" / "accuracy.json"
SEEDS = ("1", "2")


def main() -> None:
    summary, task = sys.argv[1], sys.argv[2]
    baseline = json.loads(ACCURACY.read_text())[task]["baseline"]
    dev = dict(zip(map(str, baseline["seeds"]), baseline["dev_f1"]))
    means = {"default": statistics.mean(dev[seed] for seed in SEEDS)}
    runs = {}
    with open(summary) as file:
        for row in csv.DictReader(file, delimiter="\t"):
            if row["task"] == task and row["seed"] in SEEDS and row["dev_f1"] != "missing":
                runs.setdefault(row["name"], []).append(100 * float(row["dev_f1"]))
    means.update(
        {name: statistics.mean(f1s) for name, f1s in runs.items() if len(f1s) == len(SEEDS)}
    )
    for name, mean in sorted(means.items(), key=lambda item: -item[1]):
        print(f"{task} {name} dev {mean:.2f}", file=sys.stderr)
    print(max(means, key=means.get))


if __name__ == "__main__":
    main()
