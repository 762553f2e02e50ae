"""
Finds, on a CUDA device, the largest batch size that fits in GPU memory at each sentence
length, for the `taglm_tagger` models of the given configs (by default the NER baseline and
TagLM), in training (forward, backward and an Adam step, as `allennlp train` runs them) and in
prediction (eval mode, no gradients, Viterbi decoding, as the predictor runs them).

For each config, mode and length T (shortest first): doubling batch sizes until one runs out
of memory (halving while they do, when the first guess, extrapolated from the previous
length, is too large), then bisection between the last that fit and the first that did not,
to within `--tolerance`; `torch.cuda.empty_cache()` after every try. Every sentence of a batch has T
tokens, consecutive tokens of the config's training data (so character tensors are as long
as real words make them); the gold tags are all `O`. A length at which batch size 1 does not
fit ends that config and mode. Prints a Markdown table row by row (and rewrites `--json` after
each row), so that a run cut short keeps its results: the largest batch (">=" when it is
`--max-batch-size`, the search's cap), its tokens (batch x T), its peak allocated GPU memory.

On the GPU host (docs/GPU_RUNS.md), with the LM archives the TagLM config reads:

    source benchmarks/gpu/env.sh
    FORWARD_LM=... BACKWARD_LM=... LM_STATE_DIM=512 \
        python3 benchmarks/max_batch_length.py --json $OUT/max_batch_length.json
"""
import argparse
import gc
import json
import platform
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from allennlp.common import Params
from allennlp.common.util import import_module_and_submodules
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.nn import util as nn_util

DEFAULT_CONFIGS = ["training_configs/ner/baseline.jsonnet", "training_configs/ner/taglm.jsonnet"]
DEFAULT_LENGTHS = [50, 124, 250, 500, 1000, 2000]
MODES = ("train", "predict")
# Errors that mean "out of GPU memory" although they are not torch.cuda.OutOfMemoryError
# (cuDNN's and cuBLAS's own allocations).
OUT_OF_MEMORY_MESSAGES = (
    "out of memory",
    "CUDNN_STATUS_ALLOC_FAILED",
    "CUBLAS_STATUS_ALLOC_FAILED",
)


def build(config_file: str) -> Tuple[DatasetReader, Model, List[str]]:
    """The config's reader and model (vocabulary from its training data) and that data's
    tokens, in order."""
    params = Params.from_file(config_file)
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    instances = list(reader.read(params.pop("train_data_path")))
    vocab = Vocabulary.from_params(params.pop("vocabulary", Params({})), instances=instances)
    model = Model.from_params(vocab=vocab, params=params.pop("model"))
    tokens = [token.text for instance in instances for token in instance["tokens"].tokens]
    return reader, model, tokens


def sentence_tensors(
    reader: DatasetReader, vocab: Vocabulary, tokens: List[str], length: int, with_tags: bool
) -> Dict[str, Any]:
    """The tensors of one sentence of `length` tokens, batch dimension 1."""
    words = (tokens * (length // len(tokens) + 1))[:length]
    instance = reader.text_to_instance(words, ["O"] * length if with_tags else None)
    reader.apply_token_indexers(instance)
    batch = Batch([instance])
    batch.index_instances(vocab)
    return batch.as_tensor_dict()


def repeat_batch(tensors: Any, batch_size: int, device: torch.device) -> Any:
    """`tensors` (nested dicts of batch-1 tensors, lists of metadata) `batch_size` times."""
    if isinstance(tensors, dict):
        return {key: repeat_batch(value, batch_size, device) for key, value in tensors.items()}
    if isinstance(tensors, torch.Tensor):
        return tensors.to(device).repeat(batch_size, *[1] * (tensors.dim() - 1))
    return tensors * batch_size


def is_out_of_memory(error: Exception) -> bool:
    return isinstance(error, torch.cuda.OutOfMemoryError) or (
        isinstance(error, RuntimeError)
        and any(message in str(error) for message in OUT_OF_MEMORY_MESSAGES)
    )


def peak_gib_or_none(
    step: Callable[[], None], model: Model, device: torch.device
) -> Optional[float]:
    """Runs `step`; its peak allocated memory in GiB, or None if it ran out of memory."""
    torch.cuda.reset_peak_memory_stats(device)
    out_of_memory = False
    try:
        step()
        torch.cuda.synchronize(device)
    except Exception as error:  # noqa: BLE001 (only out-of-memory errors are expected)
        if not is_out_of_memory(error):
            raise
        out_of_memory = True
    # Outside the except block, so that the traceback's frames (and their tensors) are gone.
    model.zero_grad(set_to_none=True)
    gc.collect()
    torch.cuda.empty_cache()
    return None if out_of_memory else torch.cuda.max_memory_allocated(device) / 2**30


def largest_batch(
    peak_gib: Callable[[int], Optional[float]], max_batch_size: int, tolerance: float, guess: int
) -> Tuple[int, Optional[float]]:
    """
    The largest batch size that fits (0 if none) and its peak memory: from `guess`, doubling
    while batches fit or halving while they do not, then bisection until the bounds are
    within `tolerance` of each other.
    """
    size = min(guess, max_batch_size)
    peak = peak_gib(size)
    if peak is None:
        fits, fits_peak, does_not_fit = 0, None, size
        while does_not_fit > 1 and fits == 0:
            size = does_not_fit // 2
            peak = peak_gib(size)
            if peak is None:
                does_not_fit = size
            else:
                fits, fits_peak = size, peak
    else:
        fits, fits_peak = size, peak
        while True:
            if fits == max_batch_size:
                return fits, fits_peak  # the cap fits
            size = min(2 * fits, max_batch_size)
            peak = peak_gib(size)
            if peak is None:
                does_not_fit = size
                break
            fits, fits_peak = size, peak
    while does_not_fit - fits > max(1, int(fits * tolerance)):
        middle = (fits + does_not_fit) // 2
        peak = peak_gib(middle)
        if peak is None:
            does_not_fit = middle
        else:
            fits, fits_peak = middle, peak
    return fits, fits_peak


def benchmark_config(config_file: str, args: argparse.Namespace, device: torch.device):
    """Yields a result row per mode and length, each as soon as it is measured; frees the
    model's GPU memory when done."""
    reader, model, tokens = build(config_file)
    model.to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad])
    for mode in MODES:
        yield from mode_rows(config_file, mode, reader, model, optimizer, tokens, args, device)
    del model, optimizer
    gc.collect()
    torch.cuda.empty_cache()


def mode_rows(
    config_file: str,
    mode: str,
    reader: DatasetReader,
    model: Model,
    optimizer: torch.optim.Optimizer,
    tokens: List[str],
    args: argparse.Namespace,
    device: torch.device,
):
    """Yields the row of each length of `--lengths` (shortest first) in `mode`, until a length
    at which batch size 1 does not fit."""
    previous: Optional[Tuple[int, int]] = None  # the previous length and its largest batch
    for length in sorted(args.lengths):
        tensors = sentence_tensors(reader, model.vocab, tokens, length, mode == "train")

        def train_step(batch_size: int) -> None:
            model.train()
            loss = model(**repeat_batch(tensors, batch_size, device))["loss"]
            loss.backward()
            optimizer.step()

        def predict_step(batch_size: int) -> None:
            model.eval()
            with torch.no_grad():
                model(**repeat_batch(tensors, batch_size, device))

        step = train_step if mode == "train" else predict_step
        # Memory grows about linearly with batch x length.
        guess = 1 if previous is None else max(1, previous[1] * previous[0] // length)
        max_batch, peak = largest_batch(
            lambda size: peak_gib_or_none(lambda: step(size), model, device),
            args.max_batch_size,
            args.tolerance,
            guess,
        )
        previous = (length, max_batch)
        model.get_metrics(reset=True)
        yield {"config": config_file, "mode": mode, "length": length,
               "max_batch_size": max_batch, "tokens": max_batch * length,
               "peak_gib": peak}  # fmt: skip
        if max_batch == 0:
            break


def markdown_row(row: Dict[str, Any], max_batch_size: int) -> str:
    peak = "-" if row["peak_gib"] is None else f"{row['peak_gib']:.1f}"
    capped = ">= " if row["max_batch_size"] == max_batch_size else ""
    return (f"| {row['config']} | {row['mode']} | {row['length']} | "
            f"{capped}{row['max_batch_size']} | {row['tokens']} | {peak} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS)
    parser.add_argument("--lengths", nargs="+", type=int, default=DEFAULT_LENGTHS)
    parser.add_argument("--cuda-device", type=int, default=0)
    parser.add_argument("--max-batch-size", type=int, default=1 << 16)
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="relative precision of the bisection (default 0.05)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--memory-limit-gb", type=float,
                        help="cap this process's GPU memory (torch's per-process memory "
                             "fraction), e.g. 80 to measure an 80 GB card on a larger one")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA device")
    import_module_and_submodules("taglm_plugin")
    device = nn_util.int_to_device(args.cuda_device)
    properties = torch.cuda.get_device_properties(device)
    memory_gib = properties.total_memory / 2**30
    if args.memory_limit_gb is not None:
        fraction = args.memory_limit_gb * 10**9 / properties.total_memory
        if not 0 < fraction <= 1:
            parser.error(f"--memory-limit-gb must be in (0, {properties.total_memory / 1e9:.0f}]")
        torch.cuda.set_per_process_memory_fraction(fraction, device)
        memory_gib = args.memory_limit_gb * 10**9 / 2**30
    environment = {"device": properties.name, "gpu_memory_gib": memory_gib,
                   "memory_limit_gb": args.memory_limit_gb,
                   "torch": torch.__version__, "python": platform.python_version()}  # fmt: skip
    print(json.dumps(environment), flush=True)

    print(f"\n{environment['device']}, {environment['gpu_memory_gib']:.0f} GiB\n")
    print("| config | mode | length | max batch | tokens | peak GiB |")
    print("| --- | --- | --- | --- | --- | --- |", flush=True)
    rows = []
    for config in args.configs:
        for row in benchmark_config(config, args, device):
            print(markdown_row(row, args.max_batch_size), flush=True)
            rows.append(row)
            if args.json:
                with open(args.json, "w") as output:
                    json.dump({"environment": environment, "results": rows}, output, indent=2)


if __name__ == "__main__":
    main()
