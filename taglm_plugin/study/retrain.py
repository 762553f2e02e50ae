"""
`python -m taglm_plugin.study.retrain RUN_DIR COMMAND...`: the train step of a run trained on
train+dev (`taglm_plugin.study.replay`). COMMAND is `PYTHON -m allennlp train CONFIG ... -o
OVERRIDES ...` of the run's config whose overrides hold `replay.train_and_dev`'s; it runs in
this process with the replay of the run trained in RUN_DIR (`replay.read_replay`) added to
those overrides.
"""
import json
import runpy
import sys
from pathlib import Path
from typing import List

from taglm_plugin.study.replay import read_replay


def main(argv: List[str]) -> None:
    """Runs the command with the replay (see the module's docstring) as `python -m` would,
    without starting another Python."""
    run_directory, _, option, module, *arguments = argv
    if option != "-m":
        raise ValueError(f"expected PYTHON -m MODULE ARGUMENTS..., got {argv[1:]}")
    index = arguments.index("-o") + 1
    replay = read_replay(Path(run_directory))
    arguments[index] = json.dumps(dict(json.loads(arguments[index]), **replay.overrides()))
    print("$ python -m", module, " ".join(arguments), flush=True)
    sys.argv = [module, *arguments]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
