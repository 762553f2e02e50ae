"""
Tagging throughput of a trained taglm_tagger archive: sentences per second through the
`taglm_tagger` predictor as `allennlp predict` runs it (JSON inputs in, `predict_batch_json`
on `--batch-size` lines per call, one JSON line out per input), for each number of worker
processes in `--workers` (0: tagging in this process with torch's intra-op threads), side by
side in one run. The sentences are the words of a column file read with the archive's own
dataset reader, as raw text (`{"sentence"}`, tokenized by the predictor) or as tokens; reading
the file is not timed. Every variant must give the same output lines (`same_outputs`).

    python benchmarks/predict_throughput.py MODEL.tar.gz DATA_FILE [--cuda-device 0]
        [--workers 0,16] [--batch-size 4096] [--model-batch-size N] [--input tokens]
        [--repeats 3]
"""
import argparse
import json
import time
from typing import List

import torch
from allennlp.predictors import Predictor

from taglm_plugin.common.cpu_cores import cpu_cores
from taglm_plugin.common.safe_loading import load_archive


def tag(predictor: Predictor, inputs: List[dict], batch_size: int) -> List[str]:
    """The output lines of `inputs`, `batch_size` per call, as `allennlp predict` writes them."""
    lines = []
    for start in range(0, len(inputs), batch_size):
        end = start + batch_size
        outputs = predictor.predict_batch_json(inputs[start:end])
        lines.extend(predictor.dump_line(output) for output in outputs)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive")
    parser.add_argument("data_file")
    parser.add_argument("--cuda-device", type=int, default=-1)
    parser.add_argument(
        "--workers", help="comma-separated; default 0 and one per CPU core (0 on a GPU)"
    )
    parser.add_argument("--batch-size", type=int, default=4096, help="lines per call")
    parser.add_argument(
        "--model-batch-size", type=int, help="the predictor's batch_size (default its own)"
    )
    parser.add_argument("--input", choices=["sentence", "tokens"], default="sentence")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.workers is None:
        workers = [0] if args.cuda_device >= 0 else [0, cpu_cores()]
    else:
        workers = [int(count) for count in args.workers.split(",")]

    archive = load_archive(args.archive, cuda_device=args.cuda_device)
    words = [
        [token.text for token in instance["tokens"]]
        for instance in archive.validation_dataset_reader.read(args.data_file)
    ]
    inputs = [
        {"sentence": " ".join(tokens)} if args.input == "sentence" else {"tokens": tokens}
        for tokens in words
    ]
    variants, outputs = [], []
    for count in workers:
        predictor = Predictor.from_archive(
            archive,
            "taglm_tagger",
            extra_args={"workers": count, "batch_size": args.model_batch_size},
        )
        model_batch_size = predictor.batch_size
        # Warm-up: starts the workers; allocator blocks (and on a GPU cuDNN plans) per shape.
        outputs.append(tag(predictor, inputs, args.batch_size))
        timings = []
        for _ in range(args.repeats):
            if args.cuda_device >= 0:
                torch.cuda.synchronize()
            start = time.perf_counter()
            tag(predictor, inputs, args.batch_size)
            if args.cuda_device >= 0:
                torch.cuda.synchronize()
            timings.append(time.perf_counter() - start)
        predictor.close()
        variants.append(
            {
                "workers": count,
                "seconds": timings,
                "sentences_per_second": len(inputs) / min(timings),
            }
        )
    result = {
        "device": torch.cuda.get_device_name(args.cuda_device) if args.cuda_device >= 0 else "cpu",
        "cpu_cores": cpu_cores(),
        "torch_threads": torch.get_num_threads(),
        "input": args.input,
        "sentences": len(inputs),
        "tokens": sum(len(tokens) for tokens in words),
        "batch_size": args.batch_size,
        "model_batch_size": model_batch_size,
        "variants": variants,
        "same_outputs": all(lines == outputs[0] for lines in outputs),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
