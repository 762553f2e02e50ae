"""
Where the time of a training epoch goes: builds a training run from a config as
`allennlp train` does, trains `--warm-up` epochs, then profiles the next epoch (training and
validation) with cProfile and prints its wall time, the host functions that took the most
time (`--top`), and with `--torch-profile` the CUDA time of the epoch's GPU operators.

    python benchmarks/epoch_profile.py training_configs/ner/baseline.jsonnet \
        [-o '{"trainer.cuda_device": 0}'] [--warm-up 1] [--top 30] [--torch-profile]
"""
import argparse
import cProfile
import json
import pstats
import tempfile
import time

import torch
from allennlp.commands.train import TrainModel
from allennlp.common import Params
from allennlp.common.util import prepare_environment

import taglm_plugin  # noqa: F401  (registers the components)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("-o", "--overrides", default="")
    parser.add_argument("--warm-up", type=int, default=1)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--torch-profile", action="store_true")
    args = parser.parse_args()

    params = Params.from_file(args.config, args.overrides)
    prepare_environment(params)  # the seeds, as `allennlp train` sets them
    with tempfile.TemporaryDirectory() as serialization_dir:
        trainer = TrainModel.from_params(
            params=params, serialization_dir=serialization_dir, local_rank=0
        ).trainer
        for callback in trainer._callbacks:  # as `trainer.train()` starts them
            callback.on_start(trainer, is_primary=True)

        def epoch(index: int) -> None:
            trainer._train_epoch(index)
            with torch.no_grad():  # as `trainer.train()` validates
                trainer._validation_loss(index)
            if torch.cuda.is_available():
                torch.cuda.synchronize()

        for index in range(args.warm_up):
            epoch(index)
        start = time.perf_counter()
        epoch(args.warm_up)
        print(json.dumps({"epoch_seconds_unprofiled": time.perf_counter() - start}))
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.runcall(epoch, args.warm_up)
        print(json.dumps({"epoch_seconds_profiled": time.perf_counter() - start}))
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
        if args.torch_profile:
            with torch.profiler.profile() as torch_profile:
                epoch(args.warm_up)
            device = "cuda" if torch.cuda.is_available() else "cpu"
            table = torch_profile.key_averages().table(
                sort_by=f"self_{device}_time_total", row_limit=args.top
            )
            print(table)


if __name__ == "__main__":
    main()
