"""
Which baseline variant of a task plan.sh keeps: the one with the highest mean dev F1 over
seeds 1 and 2 in SUMMARY.tsv (scripts/gpu_runs.sh's `summary`), `default` (the configs as
they are, trained in the same run) included. Test F1 is not read (none exists yet).

    python select.py SUMMARY.tsv TASK  ->  prints the variant's name; the means on stderr
"""
import csv
import statistics
import sys

SEEDS = ("1", "2")


def main() -> None:
    summary, task = sys.argv[1], sys.argv[2]
    runs = {}
    with open(summary) as file:
        for row in csv.DictReader(file, delimiter="\t"):
            if row["task"] == task and row["seed"] in SEEDS and row["dev_f1"] != "missing":
                runs.setdefault(row["name"], []).append(100 * float(row["dev_f1"]))
    means = {name: statistics.mean(f1s) for name, f1s in runs.items() if len(f1s) == len(SEEDS)}
    if "default" not in means:
        sys.exit(f"{summary}: no {task} run of `default` with seeds {', '.join(SEEDS)}")
    for name, mean in sorted(means.items(), key=lambda item: -item[1]):
        print(f"{task} {name} dev {mean:.2f}", file=sys.stderr)
    print(max(means, key=means.get))


if __name__ == "__main__":
    main()
