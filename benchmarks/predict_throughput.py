"""
Tagging throughput of a trained taglm_tagger archive: sentences per second through the
`taglm_tagger` predictor as `allennlp predict` runs it (JSON inputs in, `predict_batch_json`
on `--batch-size` lines per call, one JSON line out per input), for each number of worker
processes in `--workers` (0: tagging in this process with torch's intra-op threads), side by
side in one run. The sentences are the words of a column file read with the archive's own
dataset reader, as raw text (`{"sentence"}`, tokenized by the predictor) or as tokens; reading
the file is not timed. Every variant must give the same output lines (`same_outputs`).
The timed passes follow a first pass over the same sentences, so the indexers' word caches
(`cached_characters`, `cached_elmo_characters`) hold every word: `sentences_per_second` is
that of a predictor that has seen the text's words before. The first pass, text seen for the
first time (word caches filled, worker processes started, on a GPU allocator blocks and cuDNN
plans made), is reported apart: `first_pass_seconds`, `first_pass_sentences_per_second`.

With `--profile FILE`, each variant runs one more pass after its timed ones under
torch.profiler (not among the timed passes: the profiler slows a pass down; its seconds are
the variant's `profiled_pass_seconds`), and FILE gets that pass's tables: the top
`PROFILE_ROWS` rows by self CPU time and, on a GPU, by self CUDA time. The stages of the pass
are labelled (`record_function` ranges named `predict/...`: tokenizing, instance creation,
indexing by each token indexer, collation, moving to the device, the model's LM embedder,
other embedders, encoder, tag projection and CRF decoding, the outputs), so that the Python
time of the host between torch ops shows as their self CPU time. A line before the tables
gives the time of Python's garbage collections during the pass, which the time of the stage
they happened in includes. With worker processes the tables hold only this process's share
(handing out the work, gathering the outputs): profile `--workers 0`.

    python benchmarks/predict_throughput.py MODEL.tar.gz DATA_FILE [--cuda-device 0]
        [--workers 0,16] [--batch-size 4096] [--model-batch-size N] [--input tokens]
        [--repeats 3] [--profile FILE]
"""
import argparse
import contextlib
import functools
import gc
import json
import time
from typing import Any, Callable, Dict, Iterator, List, Tuple

import torch
from allennlp.models import Model
from allennlp.predictors import Predictor
from torch.profiler import ProfilerActivity, profile, record_function

from taglm_plugin.common.cpu_cores import cpu_cores
from taglm_plugin.common.safe_loading import load_archive
from taglm_plugin.speed import tagger_fast_paths
from taglm_plugin.speed.vectorized_data_collator import VectorizedDataCollator

# Rows of each `--profile` table.
PROFILE_ROWS = 40


def tag(predictor: Predictor, inputs: List[dict], batch_size: int) -> List[str]:
    """The output lines of `inputs`, `batch_size` per call, as `allennlp predict` writes them."""
    lines = []
    for start in range(0, len(inputs), batch_size):
        end = start + batch_size
        outputs = predictor.predict_batch_json(inputs[start:end])
        lines.extend(predictor.dump_line(output) for output in outputs)
    return lines


def timed_tag(
    predictor: Predictor, inputs: List[dict], batch_size: int, cuda: bool
) -> Tuple[List[str], float]:
    """`tag`'s output lines and its seconds (with `cuda`, the GPU's work included)."""
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    lines = tag(predictor, inputs, batch_size)
    if cuda:
        torch.cuda.synchronize()
    return lines, time.perf_counter() - start


def _labelled(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, run inside `record_function(label)`."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with record_function(label):
            return function(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def _stage_labels(predictor: Predictor) -> Iterator[None]:
    """
    Labels the stages of `predictor`'s tagging (`record_function` ranges named
    `predict/...`) while the context is open, by wrapping the methods that run them; puts the
    methods back at exit.
    """
    model: Model = predictor._model
    reader = predictor._dataset_reader
    targets = [
        (type(predictor), "_text_and_tokens", "predict/tokenize"),
        (reader, "text_to_instance", "predict/text_to_instance"),
        (type(predictor), "_user_output", "predict/user_output (spans)"),
        (predictor, "dump_line", "predict/dump_line (JSON)"),
        (VectorizedDataCollator, "__call__", "predict/collate"),
        (tagger_fast_paths, "move_to_device", "predict/move_to_device"),
        (type(model), "make_output_human_readable", "predict/make_output_human_readable"),
    ]
    for name, indexer in getattr(reader, "_token_indexers", {}).items():
        label = f"predict/index {name} ({type(indexer).__name__})"
        targets.append((indexer, "tokens_to_indices", label))
    for attribute, label in [
        ("lm_embedder", "predict/model lm_embedder"),
        ("text_field_embedder", "predict/model text_field_embedder"),
        ("encoder", "predict/model encoder"),
        ("tag_projection_layer", "predict/model tag_projection_layer"),
    ]:
        module = getattr(model, attribute, None)
        if module is not None:
            targets.append((module, "forward", label))
    crf = getattr(model, "crf", None)
    if crf is not None:
        targets.append((crf, "viterbi_tags", "predict/model crf.viterbi_tags"))
    # Attributes of the owner's own (a class's or module's) are set back at exit; the others
    # (e.g. a method wrapped on an instance) are deleted, which uncovers the original again.
    saved = []
    for owner, attribute, label in targets:
        own = vars(owner).get(attribute)
        saved.append((owner, attribute, own))
        setattr(owner, attribute, _labelled(label, getattr(owner, attribute)))
    try:
        yield
    finally:
        for owner, attribute, own in reversed(saved):
            if own is None:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, own)


def profile_pass(
    predictor: Predictor, inputs: List[dict], batch_size: int, cuda: bool
) -> Tuple[float, str]:
    """
    One pass of `tag` under torch.profiler with the stages labelled: its seconds and the
    profiler's tables (by self CPU time and, with `cuda`, by self CUDA time).
    """
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with _gc_times() as gc_times, _stage_labels(predictor), profile(
        activities=activities
    ) as profiler:
        _, seconds = timed_tag(predictor, inputs, batch_size, cuda)
    gc_line = "Python's garbage collections during the pass (inside the stages' times): " + (
        ", ".join(
            f"generation {generation}: {count} taking {total:.3f} s"
            for generation, (count, total) in sorted(gc_times.items())
        )
        or "none"
    )
    averages = profiler.key_averages()
    sort_keys = ["self_cpu_time_total"] + (["self_device_time_total"] if cuda else [])
    tables = [
        f"Sorted by {key}:\n"
        + averages.table(sort_by=key, row_limit=PROFILE_ROWS, max_name_column_width=72)
        for key in sort_keys
    ]
    return seconds, "\n".join([gc_line] + tables)


@contextlib.contextmanager
def _gc_times() -> Iterator[Dict[int, List[float]]]:
    """
    `{generation: [collections, seconds]}` of Python's garbage collections while the context is
    open (a full collection walks every object the process tracks: a pause that lands in
    whichever stage allocates at the time).
    """
    times: Dict[int, List[float]] = {}
    started = [0.0]

    def callback(phase: str, info: Dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            entry = times.setdefault(info["generation"], [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started[0]

    gc.callbacks.append(callback)
    try:
        yield times
    finally:
        gc.callbacks.remove(callback)


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
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="write torch.profiler tables of one more (untimed) pass of each variant to FILE",
    )
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
    variants, outputs, profiles = [], [], []
    for count in workers:
        predictor = Predictor.from_archive(
            archive,
            "taglm_tagger",
            extra_args={"workers": count, "batch_size": args.model_batch_size},
        )
        model_batch_size = predictor.batch_size
        # The first pass: starts the workers, fills the word caches; allocator blocks (and on
        # a GPU cuDNN plans) per shape.
        cuda = args.cuda_device >= 0
        lines, first_pass_seconds = timed_tag(predictor, inputs, args.batch_size, cuda)
        outputs.append(lines)
        timings = [
            timed_tag(predictor, inputs, args.batch_size, cuda)[1] for _ in range(args.repeats)
        ]
        variant = {
            "workers": count,
            "seconds": timings,
            "sentences_per_second": len(inputs) / min(timings),
            "first_pass_seconds": first_pass_seconds,
            "first_pass_sentences_per_second": len(inputs) / first_pass_seconds,
        }
        if args.profile:
            heading = f"== workers {count}, model batch size {model_batch_size}: one pass of "
            try:
                seconds, tables = profile_pass(
                    predictor, inputs, args.batch_size, cuda
                )
            except Exception as error:  # the timings above stand without the profile
                variant["profile_error"] = repr(error)
                profiles.append(f"{heading}{len(inputs)} sentences: failed: {error!r} ==")
            else:
                variant["profiled_pass_seconds"] = seconds
                profiles.append(
                    f"{heading}{len(inputs)} sentences, {seconds:.3f} s under the profiler ==\n"
                    f"{tables}"
                )
        predictor.close()
        variants.append(variant)
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
    if args.profile:
        device = result["device"]
        with open(args.profile, "w", encoding="utf-8") as profile_file:
            profile_file.write(f"{args.archive} on {device}, {args.data_file}\n\n")
            profile_file.write("\n\n".join(profiles) + "\n")
        result["profile"] = args.profile
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
