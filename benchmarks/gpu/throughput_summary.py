"""
The summary lines of benchmarks/lm_throughput.py's results (char_cnn_ab.sh, lm_speed.sh): per
result file matching PATTERN (a glob, in name order or with `--by-mtime` in the order written)
and per precision, the file's name, the precision, the tokens per second and the milliseconds
of each part of a step; with `--precision P`, only P's figures and no precision column; with
`--perplexity`, each file's held-out perplexity check (None without one) after its lines.

    python3 benchmarks/gpu/throughput_summary.py PATTERN [--by-mtime] [--precision P]
        [--perplexity]
"""
import argparse
import glob
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("pattern")
    parser.add_argument("--by-mtime", action="store_true")
    parser.add_argument("--precision")
    parser.add_argument("--perplexity", action="store_true")
    args = parser.parse_args()
    paths = sorted(glob.glob(args.pattern), key=os.path.getmtime if args.by_mtime else None)
    for path in paths:
        result = json.load(open(path))
        if args.precision:
            rows = [((), result["throughput"][args.precision])]
        else:
            rows = [((precision,), figures) for precision, figures in result["throughput"].items()]
        for columns, figures in rows:
            print(os.path.basename(path), *columns, round(figures["tokens_per_second"]),
                  {k: round(v, 1) for k, v in figures.get("component_ms_per_step", {}).items()})
        if args.perplexity:
            print(result.get("perplexity"))


if __name__ == "__main__":
    main()
