"""
Times allennlp's `ConditionalRandomField` against taglm's `FastConditionalRandomField` in one
process on one device, on CoNLL-2003-shaped input: batch 64, 17 BIOUL tags (4 entity types,
with allennlp's BIOUL constraints), padded lengths T = 40 and 124 with sentence lengths drawn
uniformly from 1..T (one of length T). allennlp's Viterbi loop runs over each sentence's own
length, ours over T, so unsorted batches like these favour allennlp.

For each length it times (a) the log-likelihood forward + backward and (b) `viterbi_tags`
(top_k None, including the results' transfer to Python lists), reports the median of
`--repeats` runs after `--warmup` runs, checks that both implementations agree, and prints the
speed-ups next to the GPU targets (>= 10x and >= 100x).

    python3 benchmarks/crf_benchmark.py --device cuda --json crf_benchmark.json
"""
import argparse
import json
import platform
import statistics
import time
from typing import Callable, Dict, List

import torch
from allennlp.modules.conditional_random_field import (
    ConditionalRandomField,
    allowed_transitions,
)

from taglm_plugin.speed.conditional_random_field import FastConditionalRandomField

BATCH_SIZE = 64
SEQUENCE_LENGTHS = (40, 124)
ENTITY_TYPES = ("PER", "LOC", "ORG", "MISC")
GPU_TARGET_SPEEDUPS = {"log-likelihood fwd+bwd": 10.0, "viterbi_tags": 100.0}


def bioul_labels() -> Dict[int, str]:
    labels = ["O"] + [f"{prefix}-{kind}" for kind in ENTITY_TYPES for prefix in "BILU"]
    return dict(enumerate(labels))


def median_seconds(
    function: Callable[[], object], device: torch.device, warmup: int, repeats: int
) -> float:
    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        function()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def benchmark_length(
    reference: ConditionalRandomField,
    fast: FastConditionalRandomField,
    sequence_length: int,
    device: torch.device,
    warmup: int,
    repeats: int,
) -> List[dict]:
    generator = torch.Generator().manual_seed(sequence_length)
    num_tags = reference.num_tags
    lengths = torch.randint(1, sequence_length + 1, (BATCH_SIZE,), generator=generator)
    lengths[0] = sequence_length
    mask = (torch.arange(sequence_length)[None, :] < lengths[:, None]).to(device)
    tags = torch.randint(num_tags, (BATCH_SIZE, sequence_length), generator=generator).to(device)
    logits = torch.randn(BATCH_SIZE, sequence_length, num_tags, generator=generator).to(device)
    logits.requires_grad_()

    def log_likelihood_step(crf: ConditionalRandomField) -> torch.Tensor:
        logits.grad = None
        crf.zero_grad(set_to_none=True)
        log_likelihood = crf(logits, tags, mask)
        (-log_likelihood).backward()
        return log_likelihood.detach()

    def agreement(crf: ConditionalRandomField):
        log_likelihood = log_likelihood_step(crf).item()
        gradients = [logits.grad.clone()]
        gradients += [p.grad.clone() for p in crf.parameters() if p.requires_grad]
        return log_likelihood, gradients, crf.viterbi_tags(logits.detach(), mask)

    expected_ll, expected_gradients, expected_paths = agreement(reference)
    actual_ll, actual_gradients, actual_paths = agreement(fast)
    checks = {
        "log-likelihood fwd+bwd": {
            "relative_difference": abs(actual_ll - expected_ll) / abs(expected_ll),
            # per gradient tensor: max |difference| / max |allennlp's gradient|
            "max_relative_gradient_difference": max(
                ((actual - expected).abs().max() / expected.abs().max()).item()
                for actual, expected in zip(actual_gradients, expected_gradients)
            ),
        },
        "viterbi_tags": {
            "same_paths": [p for p, _ in actual_paths] == [p for p, _ in expected_paths],
            "max_score_difference": max(
                abs(a - e) for (_, a), (_, e) in zip(actual_paths, expected_paths)
            ),
        },
    }
    tasks = {
        "log-likelihood fwd+bwd": log_likelihood_step,
        "viterbi_tags": lambda crf: crf.viterbi_tags(logits.detach(), mask),
    }
    rows = []
    for task, run in tasks.items():
        allennlp_s = median_seconds(lambda: run(reference), device, warmup, repeats)
        fast_s = median_seconds(lambda: run(fast), device, warmup, repeats)
        rows.append(
            {
                "task": task,
                "sequence_length": sequence_length,
                "allennlp_ms": 1000 * allennlp_s,
                "fast_ms": 1000 * fast_s,
                "speedup": allennlp_s / fast_s,
                "gpu_target_speedup": GPU_TARGET_SPEEDUPS[task],
                "agreement": checks[task],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.warmup < 1 or args.repeats < 1:
        parser.error("--warmup and --repeats must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda given, but torch sees no CUDA device")

    labels = bioul_labels()
    constraints = allowed_transitions("BIOUL", labels)
    torch.manual_seed(0)
    reference = ConditionalRandomField(len(labels), constraints).to(device)
    fast = FastConditionalRandomField(len(labels), constraints).to(device)
    fast.load_state_dict(reference.state_dict())

    rows = [
        row
        for sequence_length in SEQUENCE_LENGTHS
        for row in benchmark_length(
            reference, fast, sequence_length, device, args.warmup, args.repeats
        )
    ]
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = platform.processor() or "cpu"
    print(
        f"device: {device} ({device_name}), torch {torch.__version__}, batch {BATCH_SIZE}, "
        f"{len(labels)} BIOUL tags, {torch.get_num_threads()} CPU threads, "
        f"median of {args.repeats} after {args.warmup} warm-up runs"
    )
    header = (
        f"{'task':<24}{'T':>5}{'allennlp ms':>13}{'fast ms':>10}{'speedup':>10}{'GPU target':>12}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        met = ""
        if device.type == "cuda":
            met = "  met" if row["speedup"] >= row["gpu_target_speedup"] else "  NOT met"
        print(
            f"{row['task']:<24}{row['sequence_length']:>5}{row['allennlp_ms']:>13.2f}"
            f"{row['fast_ms']:>10.2f}{row['speedup']:>9.1f}x"
            f"{row['gpu_target_speedup']:>11.0f}x{met}"
        )
    print("agreement with allennlp:")
    for row in rows:
        print(f"  {row['task']} T={row['sequence_length']}: {row['agreement']}")
    if args.json:
        with open(args.json, "w") as output:
            json.dump(
                {
                    "device": str(device),
                    "device_name": device_name,
                    "torch": torch.__version__,
                    "batch_size": BATCH_SIZE,
                    "num_tags": len(labels),
                    "cpu_threads": torch.get_num_threads(),
                    "warmup": args.warmup,
                    "repeats": args.repeats,
                    "results": rows,
                },
                output,
                indent=2,
            )


if __name__ == "__main__":
    main()
