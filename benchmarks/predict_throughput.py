"""
Tagging throughput of a trained taglm_tagger archive: sentences per second through the
`taglm_tagger` predictor (instances in, JSON-ready tags and spans out), on a column file read
with the archive's own dataset reader. Reading and indexing the file is not timed.

    python benchmarks/predict_throughput.py MODEL.tar.gz DATA_FILE [--cuda-device 0]
        [--batch-size 512] [--repeats 5]
"""
import argparse
import json
import time

import torch
from allennlp.predictors import Predictor

from taglm_plugin.common.safe_loading import load_archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive")
    parser.add_argument("data_file")
    parser.add_argument("--cuda-device", type=int, default=-1)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    archive = load_archive(args.archive, cuda_device=args.cuda_device)
    predictor = Predictor.from_archive(archive, "taglm_tagger")
    instances = list(predictor._dataset_reader.read(args.data_file))
    for instance in instances:
        instance.fields.pop("tags", None)  # tag, don't score: no loss or metrics
        predictor._dataset_reader.apply_token_indexers(instance)
    # Longest first, as a sorting data loader would batch them.
    instances.sort(key=lambda instance: len(instance["tokens"]), reverse=True)
    batches = [
        instances[start : start + args.batch_size]
        for start in range(0, len(instances), args.batch_size)
    ]
    for batch in batches:  # warm-up: cuDNN plans and allocator blocks for every batch shape
        predictor.predict_batch_instance(batch)
    timings = []
    for _ in range(args.repeats):
        if args.cuda_device >= 0:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for batch in batches:
            predictor.predict_batch_instance(batch)
        if args.cuda_device >= 0:
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
    best = min(timings)
    result = {
        "device": torch.cuda.get_device_name(args.cuda_device) if args.cuda_device >= 0 else "cpu",
        "sentences": len(instances),
        "tokens": sum(len(instance["tokens"]) for instance in instances),
        "batch_size": args.batch_size,
        "seconds": timings,
        "sentences_per_second": len(instances) / best,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
