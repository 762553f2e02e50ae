"""
Which baseline variant of a task plan.sh keeps: the one with the highest mean dev F1 over the
given seeds in SUMMARY.tsv (scripts/gpu_runs.sh's `summary`), `default` (the configs as they
are, trained in the same run) included. A variant missing a seed is left out. Test F1 is not
read (none exists yet).

    python select.py SUMMARY.tsv TASK SEED...  ->  prints the variant's name; the means on stderr
"""
import csv
import statistics
import sys


def main() -> None:
    summary, task, seeds = sys.argv[1], sys.argv[2], set(sys.argv[3:])
    runs = {}
    with open(summary) as file:
        for row in csv.DictReader(file, delimiter="\t"):
            if row["task"] == task and row["seed"] in seeds and row["dev_f1"] != "missing":
                runs.setdefault(row["name"], []).append(100 * float(row["dev_f1"]))
    means = {name: statistics.mean(f1s) for name, f1s in runs.items() if len(f1s) == len(seeds)}
    if "default" not in means:
        sys.exit(f"{summary}: no {task} run of `default` with seeds {', '.join(sorted(seeds))}")
    for name, mean in sorted(means.items(), key=lambda item: -item[1]):
        print(f"{task} {name} dev {mean:.2f} ({len(runs[name])} seeds)", file=sys.stderr)
    print(max(means, key=means.get))


if __name__ == "__main__":
    main()
