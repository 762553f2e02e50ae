"""
LM pretraining throughput of a `training_configs/lm` config, in predicted tokens per second
(`num_targets`: the tokens plus `</S>` per sentence, what `taglm_token_throughput` counts).

Builds the config's reader, `taglm_lm_cache` data loaders, vocabulary and model as
`allennlp train` does, then times training steps as allennlp's `GradientDescentTrainer` runs
them (next batch from the loader, forward, `loss.item()`, backward, gradient clipping to
`trainer.grad_norm`, optimizer step) after warm-up steps, once per precision:

* `float32`;
* `bfloat16`: the model's `mixed_precision: "bfloat16"` (LM_PRECISION=bfloat16), the LSTMs
  too (LM_LSTM_PRECISION=mixed);
* `bfloat16_lstm_float32`: the same with `lstm_precision: "float32"` (the configs' default):
  the LSTMs in float32, only the token embedder in bfloat16;
* `float16`: autocast + `GradScaler`, what allennlp's `trainer.use_amp` does (CUDA only).

`--softmax-precision bfloat16` sets the model's `softmax_precision` (LM_SOFTMAX_PRECISION:
bfloat16 operands of the sampled logits' products) in the bfloat16 and float16 runs; float32
stays the all-float32 reference.

Every precision starts from the same initial weights and reads the same batches. Reported
separately: the one-time cost of the token cache (tokenizing the text; a fresh temporary cache
directory unless `--cache-dir`), of the vocabulary (`iter_instances`), and the data loader's
own throughput (batches built and moved to the device, no model). `--reader-loader-batches N`
also times N batches of allennlp's multi-process loader over the same reader (the path the
configs take with LM_CACHE_DIR=""). `--perplexity-steps N` trains every precision N steps from
the same start on the same batches and reports the held-out perplexity (full softmax) of each
and its relative difference to float32. `--profile-steps N` adds torch.profiler's table of N more
steps per precision; `--component-steps N` the time of each part of a step over N more batches
(`component_times`: character CNN, LSTM, softmax, each run alone, against the whole step).
`--prefetch-batches N` has the loader build N batches ahead in a background thread;
`--char-cnn allennlp` runs the character CNN as allennlp's `cnn-highway` instead of
`taglm_fused_cnn_highway` (LM_CHAR_CNN).

    python benchmarks/lm_throughput.py --data TEXT [--size paper] [--device cuda]
        [--precisions float32,bfloat16,float16] [--softmax-precision bfloat16]
        [--batch-size 128] [--pad-types-to-multiple 256] [--prefetch-batches 2]
        [--char-cnn allennlp] [--steps 50]
        [--perplexity-steps 300] [--profile-steps 5] [--component-steps 10]
        [--output result.json]

Prints one JSON object.
"""
import argparse
import copy
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy
import torch
from allennlp.common import Params
from allennlp.data import DataLoader, DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.training.optimizers import Optimizer

import taglm_plugin  # noqa: F401  (registers the components, sets the configs' defaults)
from taglm_plugin.common.config_defaults import DEFAULTS
from taglm_plugin.lm.lm_cache_data_loader import LmCacheDataLoader

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRECISIONS = ("float32", "bfloat16", "bfloat16_lstm_float32", "float16")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load_config(args: argparse.Namespace, cache_directory: str) -> Dict[str, Any]:
    os.environ.update(
        LM_SIZE=args.size,
        LM_TRAIN_DATA=args.data,
        LM_CACHE_DIR=cache_directory,
        LM_PRECISION="float32",
        LM_LSTM_PRECISION="mixed",
        LM_SOFTMAX_PRECISION="float32",
        LM_TIME_BUDGET_SECONDS="0",
        LM_CHAR_CNN=args.char_cnn,
    )
    config_file = os.path.join(REPO_ROOT, "training_configs", "lm", f"{args.direction}.jsonnet")
    overrides: Dict[str, Any] = {}
    if args.batch_size is not None:
        # allennlp's loader (no cache) has it in its batch sampler.
        key = "batch_size" if cache_directory else "batch_sampler.batch_size"
        overrides[f"data_loader.{key}"] = args.batch_size
        overrides[f"validation_data_loader.{key}"] = args.batch_size
    if args.pad_types_to_multiple is not None and cache_directory:  # a taglm_lm_cache option
        overrides["data_loader.pad_types_to_multiple"] = args.pad_types_to_multiple
        overrides["validation_data_loader.pad_types_to_multiple"] = args.pad_types_to_multiple
    if args.prefetch_batches is not None and cache_directory:  # a taglm_lm_cache option
        overrides["data_loader.prefetch_batches"] = args.prefetch_batches
    if args.held_out_every is not None:
        overrides["dataset_reader.held_out_every"] = args.held_out_every
        overrides["validation_dataset_reader.held_out_every"] = args.held_out_every
    return Params.from_file(config_file, json.dumps(overrides)).as_dict(quiet=True)


def build_loader(config: Dict[str, Any], prefix: str, data_path: str) -> DataLoader:
    reader = DatasetReader.from_params(Params(copy.deepcopy(config[f"{prefix}dataset_reader"])))
    return DataLoader.from_params(
        Params(copy.deepcopy(config[f"{prefix}data_loader"])), reader=reader, data_path=data_path
    )


def timed(function, device: torch.device):
    synchronize(device)
    start = time.perf_counter()
    result = function()
    synchronize(device)
    return result, time.perf_counter() - start


def batches_forever(loader: DataLoader, seed: int) -> Iterator[Dict[str, Any]]:
    """
    The loader's batches, epoch after epoch, in the same order for the same `seed` (a pass that
    `batches_per_epoch` cut short in an earlier call is not continued).
    """
    numpy.random.seed(seed)
    if isinstance(loader, LmCacheDataLoader):
        loader.restart()
    while True:
        yield from loader


def count_targets(batch: Dict[str, Any]) -> int:
    (targets,) = batch["targets"].values()
    return int((targets["tokens"] != 0).sum())


class Run:
    """A model, its optimizer and (float16) gradient scaler, trained as allennlp's trainer does."""

    def __init__(
        self,
        config: Dict[str, Any],
        vocab: Vocabulary,
        precision: str,
        initial_state: Dict[str, torch.Tensor],
        device: torch.device,
        softmax_precision: str = "float32",
    ) -> None:
        model_params = copy.deepcopy(config["model"])
        if precision.startswith("bfloat16"):
            model_params["mixed_precision"] = "bfloat16"
        if precision == "bfloat16_lstm_float32":
            model_params["lstm_precision"] = "float32"
        if precision != "float32":
            model_params["softmax_precision"] = softmax_precision
        self.model = Model.from_params(vocab=vocab, params=Params(model_params)).to(device)
        self.model.load_state_dict(initial_state)
        self.optimizer = Optimizer.from_params(
            model_parameters=list(self.model.named_parameters()),
            params=Params(copy.deepcopy(config["trainer"]["optimizer"])),
        )
        self.grad_norm = config["trainer"].get("grad_norm")
        self.autocast_float16 = precision == "float16"
        self.scaler = torch.amp.GradScaler(device.type) if self.autocast_float16 else None
        self.device = device

    def trainer_autocast(self) -> torch.autocast:
        """The autocast allennlp's trainer puts around the model (float16 with `use_amp`)."""
        return torch.autocast(self.device.type, dtype=torch.float16, enabled=self.autocast_float16)

    def step(self, batch: Dict[str, Any]) -> int:
        """One training step; returns the number of predicted tokens."""
        self.model.train()
        self.optimizer.zero_grad()
        with self.trainer_autocast():
            output = self.model(**batch)
        loss = output["loss"]
        loss.item()  # allennlp's trainer reads every batch's loss
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_norm).item()
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return int(output["num_targets"])

    def perplexity(self, loader: DataLoader) -> float:
        """Held-out perplexity over all of `loader` (the full softmax, in evaluation mode)."""
        self.model.eval()
        self.model.get_metrics(reset=True)
        with torch.no_grad(), self.trainer_autocast():
            for batch in loader:
                self.model(**batch)
        return self.model.get_metrics(reset=True)["perplexity"]


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="LM_TRAIN_DATA: text file(s) or glob")
    parser.add_argument("--size", default="paper", help="LM_SIZE preset (default: paper)")
    parser.add_argument("--direction", default="forward", choices=("forward", "backward"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precisions", default="float32,bfloat16,float16")
    parser.add_argument(
        "--softmax-precision",
        default="float32",
        choices=("float32", "bfloat16"),
        help="model.softmax_precision of the bfloat16 and float16 runs",
    )
    parser.add_argument(
        "--char-cnn",
        default=DEFAULTS["LM_CHAR_CNN"],
        choices=("allennlp", "fused"),
        help="LM_CHAR_CNN (default: the configs')",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="sentences per batch")
    parser.add_argument("--held-out-every", type=int, default=None)
    parser.add_argument(
        "--pad-types-to-multiple", type=int, default=None, help="default: the config's"
    )
    parser.add_argument(
        "--prefetch-batches", type=int, default=None, help="default: the config's (0)"
    )
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--loader-batches", type=int, default=200)
    parser.add_argument("--reader-loader-batches", type=int, default=0)
    parser.add_argument("--perplexity-steps", type=int, default=0)
    parser.add_argument(
        "--profile-steps", type=int, default=0, help="profile this many more steps (torch.profiler)"
    )
    parser.add_argument(
        "--component-steps", type=int, default=0, help="time each part of a step over this many"
    )
    parser.add_argument("--cache-dir", default=None, help="default: a new temporary directory")
    parser.add_argument("--seed", type=int, default=13370)
    parser.add_argument("--output", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    precisions = args.precisions.split(",")
    for precision in precisions:
        if precision not in PRECISIONS:
            parser.error(f"--precisions: {precision!r} is not one of {PRECISIONS}")
        if precision == "float16" and device.type != "cuda":
            parser.error("--precisions: float16 (use_amp) needs a CUDA --device")

    with tempfile.TemporaryDirectory() as temporary:
        cache_directory = args.cache_dir or temporary
        config = load_config(args, cache_directory)
        result: Dict[str, Any] = {
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__,
            "size": args.size,
            "direction": args.direction,
            "batch_size_sentences": config["data_loader"]["batch_size"],
            "num_samples": config["model"]["num_samples"],
            "softmax_precision": args.softmax_precision,
            "char_cnn": args.char_cnn,
            "pad_types_to_multiple": config["data_loader"].get("pad_types_to_multiple", 1),
            "prefetch_batches": config["data_loader"].get("prefetch_batches", 0),
        }
        train_loader, result["cache_build_or_load_seconds"] = timed(
            lambda: build_loader(config, "", args.data), torch.device("cpu")
        )
        validation_loader = build_loader(config, "validation_", args.data)
        result["train_tokens"] = train_loader.num_tokens
        vocab, result["vocabulary_seconds"] = timed(
            lambda: Vocabulary.from_params(
                Params(copy.deepcopy(config["vocabulary"])),
                instances=train_loader.iter_instances(),
            ),
            torch.device("cpu"),
        )
        result["vocabulary_size"] = vocab.get_vocab_size("lm_targets")
        for loader in (train_loader, validation_loader):
            loader.index_with(vocab)
            loader.set_target_device(device)

        batches = batches_forever(train_loader, args.seed)
        num_tokens, seconds = timed(
            lambda: sum(count_targets(next(batches)) for _ in range(args.loader_batches)), device
        )
        result["loader_tokens_per_second"] = num_tokens / seconds
        batches.close()  # ends its pass (and a prefetching thread) before the runs
        if args.reader_loader_batches:
            result["reader_loader_tokens_per_second"] = reader_loader_throughput(
                args, vocab, device
            )

        torch.manual_seed(args.seed)
        initial_model = Model.from_params(
            vocab=vocab, params=Params(copy.deepcopy(config["model"]))
        )
        initial_state = initial_model.state_dict()
        result["parameters"] = sum(p.numel() for p in initial_model.parameters())
        # Each precision's Run is freed before the next one's is built.
        result["throughput"] = {
            precision: throughput(
                args,
                *trained_run(
                    args, config, vocab, precision, initial_state, train_loader, args.warmup_steps
                ),
            )
            for precision in precisions
        }
        if args.perplexity_steps:
            result["perplexity"] = perplexity_check(
                args, config, vocab, precisions, initial_state, train_loader, validation_loader
            )
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as output:
            output.write(text + "\n")


def trained_run(
    args: argparse.Namespace,
    config: Dict[str, Any],
    vocab: Vocabulary,
    precision: str,
    initial_state: Dict[str, torch.Tensor],
    train_loader: DataLoader,
    steps: int,
) -> Tuple["Run", Iterator[Dict[str, Any]]]:
    """
    A `Run` of `precision` from `initial_state` after `steps` training steps on the loader's
    batches (the same seed, so the same batches, for every precision), and its next batches.
    """
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    run = Run(config, vocab, precision, initial_state, device, args.softmax_precision)
    batches = batches_forever(train_loader, args.seed)
    for _ in range(steps):
        run.step(next(batches))
    return run, batches


def throughput(
    args: argparse.Namespace, run: "Run", batches: Iterator[Dict[str, Any]]
) -> Dict[str, Any]:
    """
    Tokens per second, milliseconds and tokens per step and peak GPU memory of `--steps`
    training steps of `run` on `batches` (and `--profile-steps`' table).
    """
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    num_tokens, seconds = timed(
        lambda: sum(run.step(next(batches)) for _ in range(args.steps)), device
    )
    result: Dict[str, Any] = {
        "tokens_per_second": num_tokens / seconds,
        "ms_per_step": 1000 * seconds / args.steps,
        "tokens_per_step": num_tokens / args.steps,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30
        if device.type == "cuda"
        else None,
    }
    if args.profile_steps:
        result["profile"] = profile_steps(run, batches, args.profile_steps, device)
    if args.component_steps:
        result["component_ms_per_step"] = component_times(
            run, batches, args.component_steps, device
        )
    return result


def profile_steps(run: "Run", batches: Iterator[Dict[str, Any]], steps: int, device) -> str:
    """torch.profiler's table of `steps` training steps, the operators taking the most time."""
    with torch.profiler.profile() as profile:
        for _ in range(steps):
            run.step(next(batches))
        synchronize(device)
    sort_by = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return profile.key_averages().table(sort_by=sort_by, row_limit=25)


def component_times(
    run: "Run", batches: Iterator[Dict[str, Any]], steps: int, device: torch.device
) -> Dict[str, float]:
    """
    Where a training step's time goes: milliseconds per batch, over `steps` batches, of each
    part of the LM's forward and backward pass run alone, from the inputs it had in the step
    (detached) and in the step's precision, synchronized before and after: `char_cnn` (the
    token embedder over the batch's distinct types), `lstm` (the encoder), `softmax` (the
    sampled softmax loss over the top layer's states); `step` the whole training step (the
    optimizer and gradient clipping included) on the same batch; `rest` = `step` minus the
    parts: the optimizer, clipping, the gathers between the parts and host time, less the
    overlap of host and GPU that the parts' synchronizations remove (so it can be negative).
    """
    model = run.model
    # The model's own autocast (`mixed_precision`) where it has one, else the trainer's.
    if model._autocast_dtype is not None:
        autocast = torch.autocast(device.type, dtype=model._autocast_dtype)
    else:
        autocast = run.trainer_autocast()
    captured: Dict[str, Tuple[Any, ...]] = {}

    def capture(name: str):
        def hook(module: torch.nn.Module, inputs: Tuple[Any, ...]) -> None:
            captured[name] = inputs

        return hook

    hooks = [
        model._encoder.register_forward_pre_hook(capture("lstm")),
        model._softmax_loss.register_forward_pre_hook(capture("softmax")),
    ]

    def char_cnn(batch: Dict[str, Any]) -> None:
        with autocast:
            embeddings = model._text_field_embedder(batch["tokens"])
        embeddings.float().sum().backward()

    def lstm(batch: Dict[str, Any]) -> None:
        inputs, mask = captured["lstm"]
        with torch.autocast(device.type, enabled=False) if model._float32_lstm else autocast:
            outputs = model._encoder(inputs.detach().requires_grad_(), mask)
        outputs[-1].float().sum().backward()  # the model's loss reads the top layer only

    def softmax(batch: Dict[str, Any]) -> None:
        states, word_classes = captured["softmax"]
        with torch.autocast(device.type, enabled=False):
            model._softmax_loss(states.detach().requires_grad_(), word_classes).backward()

    parts = {"char_cnn": char_cnn, "lstm": lstm, "softmax": softmax}
    totals = dict.fromkeys([*parts, "step"], 0.0)
    try:
        for _ in range(steps):
            batch = next(batches)
            model.train()
            with torch.no_grad(), run.trainer_autocast():
                model(**batch)  # the parts' inputs, through the hooks, as `Run.step` runs it
            for name, part in parts.items():
                totals[name] += timed(lambda: part(batch), device)[1]
            totals["step"] += timed(lambda: run.step(batch), device)[1]
    finally:
        for hook in hooks:
            hook.remove()
    result = {name: 1000 * total / steps for name, total in totals.items()}
    result["rest"] = result["step"] - sum(result[name] for name in parts)
    return result


def reader_loader_throughput(
    args: argparse.Namespace, vocab: Vocabulary, device: torch.device
) -> float:
    """Tokens/s of allennlp's multi-process loader for the config without the token cache."""
    config = load_config(args, cache_directory="")
    loader = build_loader(config, "", args.data)
    loader.index_with(vocab)
    loader.set_target_device(device)
    batches = iter(loader)
    next(batches)  # the workers' start-up
    num_tokens, seconds = timed(
        lambda: sum(count_targets(next(batches)) for _ in range(args.reader_loader_batches)),
        device,
    )
    batches.close()  # stops the workers (the loader's `finally` joins them)
    return num_tokens / seconds


def perplexity_check(
    args: argparse.Namespace,
    config: Dict[str, Any],
    vocab: Vocabulary,
    precisions: List[str],
    initial_state: Dict[str, torch.Tensor],
    train_loader: DataLoader,
    validation_loader: DataLoader,
) -> Dict[str, Any]:
    """Held-out perplexity of every precision after `--perplexity-steps` steps from one start."""
    perplexities = {}
    for precision in precisions:
        run, _ = trained_run(
            args, config, vocab, precision, initial_state, train_loader, args.perplexity_steps
        )
        perplexities[precision] = run.perplexity(validation_loader)
        del run
    result: Dict[str, Any] = {"steps": args.perplexity_steps, "held_out": perplexities}
    if "float32" in perplexities:
        result["relative_difference_to_float32"] = {
            precision: value / perplexities["float32"] - 1
            for precision, value in perplexities.items()
            if precision != "float32"
        }
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
