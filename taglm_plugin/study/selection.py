"""
The dev selection among a config and its `--variants`: the step `evaluate` of every variant
run (`CONFIG~VARIANT/seedN`), which starts once every run of the config and of its variants
has trained or failed:

    python -m taglm_plugin.study.selection SELECTION_FILE RUN SEEDS CANDIDATE_DIR... -- COMMAND...

`CANDIDATE_DIR`s are the run directories of the candidates (`runs/TASK/CONFIG` first, then
`runs/TASK/CONFIG~VARIANT` in the order of the variants file), each with `seed1`.. `seedSEEDS`.
The selected candidate is the one of the highest mean dev F1 over the seeds (the best epoch's,
`metrics.json`), the first listed on ties, among those trained with every seed (a candidate
with a run that failed to train is left out, under "not_trained" with those seeds; none
left: the step fails). It is written to `SELECTION_FILE`:

    {"selected": NAME, "candidates": {NAME: {"seeds": [...], "dev_f1": [...],
                                             "mean_dev_f1": F1}},
     "not_trained": {NAME: [seeds]}}

(F1 in percent). A selection once written stays: the steps after the first (and those of a
later invocation on the same study, where a run left out may have trained since) read it.
`COMMAND` (the run's `allennlp evaluate` on the test file) runs only if `RUN`
(a candidate's name) is the selected one: every model is evaluated once on test, and only the
selected variants' models are. The config itself is evaluated as every run of a study is.
"""
import os
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from taglm_plugin.study.json_files import read_json, write_json
from taglm_plugin.study.plan import marker

DEV_F1 = "best_validation_f1-measure-overall"


def select(candidate_directories: List[Path], seeds: int) -> Dict[str, Any]:
    """The selection (see the module's docstring) among the runs of seeds 1..`seeds` in
    `candidate_directories`."""
    candidates, not_trained = {}, {}
    for directory in candidate_directories:
        failed = [
            seed
            for seed in range(1, seeds + 1)
            if not marker(directory / f"seed{seed}", "train").is_file()
        ]
        if failed:
            not_trained[directory.name] = failed
            continue
        dev_f1 = [
            round(100 * read_json(directory / f"seed{seed}" / "metrics.json")[DEV_F1], 2)
            for seed in range(1, seeds + 1)
        ]
        candidates[directory.name] = {
            "seeds": list(range(1, seeds + 1)),
            "dev_f1": dev_f1,
            "mean_dev_f1": round(statistics.mean(dev_f1), 3),
        }
    if not candidates:
        sys.exit(f"no candidate trained with every seed: {not_trained}")
    selected = max(candidates, key=lambda name: candidates[name]["mean_dev_f1"])
    return {"selected": selected, "candidates": candidates, "not_trained": not_trained}


def left_out(selection: Dict[str, Any]) -> List[str]:
    """What says, per candidate left out of `selection`, that it was and why."""
    return [
        f"{name} is left out: {'seeds' if len(seeds) > 1 else 'seed'} "
        f"{', '.join(map(str, seeds))} had not trained when the selection was made"
        for name, seeds in selection.get("not_trained", {}).items()
    ]


def main(arguments: List[str]) -> Optional[List[str]]:
    """Makes the selection of the command line `arguments` (see the module's docstring) and
    writes it, or reads the one written before; returns `COMMAND` if `RUN` is selected, else
    None."""
    if "--" not in arguments or arguments.index("--") < 4:
        sys.exit(__doc__)
    split = arguments.index("--")
    selection_file, run, seeds, *directories = arguments[:split]
    if Path(selection_file).is_file():
        selection = read_json(Path(selection_file))
    else:
        selection = select([Path(directory) for directory in directories], int(seeds))
        write_json(Path(selection_file), selection)
    means = ", ".join(
        f"{name} {candidate['mean_dev_f1']:.2f}"
        for name, candidate in selection["candidates"].items()
    )
    print(f"Mean dev F1: {means}; selected: {selection['selected']}", flush=True)
    for line in left_out(selection):
        print(line)
    if selection["selected"] != run:
        print(f"{run} is not selected: not evaluated on test")
        return None
    return arguments[split + 1 :]


if __name__ == "__main__":
    command = main(sys.argv[1:])
    if command:
        # In this process's place, so that stopping the study's step stops the evaluation.
        os.execvp(command[0], command)
