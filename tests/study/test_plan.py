"""
The study's checks (`taglm_plugin.study.plan.build_plan`): every bad option fails before
anything is trained, naming the option; the runs a study directory still needs.
"""
import json
import shutil

import pytest

from taglm_plugin.common.cpu_cores import cpu_cores
from taglm_plugin.study import plan as plan_module
from taglm_plugin.study.plan import (
    GPU_MIB_PER_RUN,
    NER_ABLATIONS,
    THREADS_PER_RUN,
    StudyOptionError,
    StudyOptions,
    build_plan,
    lm_tokenizing_processes,
    marker,
)
from taglm_plugin.study.study import run_study
from tests.conftest import FIXTURES, REPO_ROOT

TAGGER_FIXTURES = FIXTURES / "tagger"


@pytest.fixture
def options(tmp_path, monkeypatch) -> StudyOptions:
    """A study of the tiny fixtures on the CPU (chunking's test file: its training file)."""
    monkeypatch.chdir(REPO_ROOT)
    conll2000 = tmp_path / "conll2000"
    conll2000.mkdir()
    shutil.copy(TAGGER_FIXTURES / "conll2000" / "train.txt", conll2000 / "train.txt")
    shutil.copy(TAGGER_FIXTURES / "conll2000" / "train.txt", conll2000 / "test.txt")
    return StudyOptions(
        tmp_path / "study",
        lm_text=(str(TAGGER_FIXTURES / "lm_text.txt"),),
        seeds=2,
        cuda_device=-1,
        lm_size="small",
        conll2003_dir=str(TAGGER_FIXTURES / "conll2003"),
        conll2000_dir=str(conll2000),
        glove=str(TAGGER_FIXTURES / "glove.50d.txt"),
    )


def fails_naming(option: str, options: StudyOptions, match: str = ".") -> StudyOptionError:
    with pytest.raises(StudyOptionError, match=match) as error:
        build_plan(options)
    assert error.value.option == option
    assert str(error.value).startswith(option + ": ")
    return error.value


def test_runs_of_the_default_study(options):
    plan = build_plan(options)
    assert [job.name for job in plan.lm_jobs] == ["lm/forward", "lm/backward"]
    assert [job.name for job in plan.tagger_jobs] == [
        f"{task}/{config}/seed{seed}"
        for seed in (1, 2)
        for task in ("ner", "chunking")
        for config in ("baseline", "taglm_cached")
    ]
    assert [job.needs_lms for job in plan.tagger_jobs[:2]] == [False, True]
    taglm = plan.tagger_jobs[1]
    # The `small` LM's states are 16-dimensional; the taggers load the encoder exports.
    assert taglm.env["LM_STATE_DIM"] == "16"
    assert taglm.env["FORWARD_LM"] == str(plan.lm_jobs[0].directory / "encoder.tar.gz")
    assert taglm.env["SEED"] == "1" and plan.tagger_jobs[4].env["SEED"] == "2"
    assert [step.name for step in taglm.steps] == ["train", "evaluate"]
    assert [step.name for step in plan.lm_jobs[0].steps] == ["train", "export"]
    assert plan.lm_jobs[0].env["LM_PRECISION"] == "bfloat16"
    assert plan.lm_jobs[0].env["LM_CACHE_DIR"] != plan.lm_jobs[1].env["LM_CACHE_DIR"]
    assert plan.parallel == max(1, cpu_cores() // THREADS_PER_RUN)


def test_the_lms_share_the_cores_unless_told_how_many_processes_tokenize():
    assert lm_tokenizing_processes({}) == str(max(1, cpu_cores() // 2))
    assert lm_tokenizing_processes({"LM_TOKENIZING_PROCESSES": "0"}) == lm_tokenizing_processes({})
    assert lm_tokenizing_processes({"LM_TOKENIZING_PROCESSES": "3"}) == "3"


def test_ablations_are_ner_configs(options):
    options.ablations = True
    configs = {job.config for job in build_plan(options).tagger_jobs if job.task == "ner"}
    assert configs == {"baseline", "taglm_cached", *NER_ABLATIONS}
    options.tasks = ("chunking",)
    fails_naming("--ablations", options)


def test_a_baseline_study_needs_no_lm_text(options):
    options.configs, options.lm_text = ("baseline",), ()
    plan = build_plan(options)
    assert plan.lm_jobs == [] and len(plan.tagger_jobs) == 4


def test_unknown_task_or_config(options):
    options.tasks = ("ner", "pos")
    fails_naming("--tasks", options, "unknown task 'pos'")
    options.tasks, options.configs = ("ner",), ("baseline", "taglm_bigger")
    fails_naming("--configs", options, "no config 'taglm_bigger' for ner.*taglm_cached")


def test_missing_data(options, tmp_path):
    ner = tmp_path / "conll2003"
    shutil.copytree(TAGGER_FIXTURES / "conll2003", ner)
    (ner / "eng.testb").unlink()
    options.conll2003_dir = str(ner)
    fails_naming("--conll2003-dir", options, "eng.testb")
    options.conll2003_dir = str(TAGGER_FIXTURES / "conll2003")
    options.glove = str(tmp_path / "glove.txt")
    fails_naming("--glove", options, "glove.txt does not exist")


def test_lm_text_that_matches_nothing(options, tmp_path):
    options.lm_text = (str(TAGGER_FIXTURES / "lm_text.txt"), str(tmp_path / "wiki-*.tar.gz"))
    fails_naming("--lm-text", options, "no file matches .*wiki-")
    options.lm_text = ()
    fails_naming("--lm-text", options, "need unlabeled text")


def test_lm_text_in_the_order_given(options, tmp_path):
    for name in ("b.txt", "a.txt"):
        (tmp_path / name).write_text("Some text .\n")
    options.lm_text = (str(tmp_path / "b.txt"), str(tmp_path / "*.txt"))
    files = build_plan(options).lm_text_files
    assert files == [tmp_path / name for name in ("b.txt", "a.txt", "b.txt")]


def test_bad_overrides_file(options, tmp_path):
    overrides = tmp_path / "overrides.json"
    options.overrides_file = str(overrides)
    fails_naming("--overrides-file", options, "cannot read")
    overrides.write_text(json.dumps({"pos": {}}))
    fails_naming("--overrides-file", options, "keys are among lm, ner, chunking")
    overrides.write_text(json.dumps({"ner": {"trainer.num_epochs.x": 1}}))
    fails_naming("--overrides-file", options, "baseline.jsonnet .*trainer.num_epochs")
    options.tasks = ("ner",)
    overrides.write_text(json.dumps({"chunking": {}}))
    fails_naming("--overrides-file", options, "chunking, which is not in --tasks")


def test_bad_lm_setting(options):
    options.lm_precision = "int8"
    fails_naming("--lm-size / --lm-precision / --lm-softmax-precision / --overrides-file",
                 options, "LM_PRECISION must be one of")  # fmt: skip


def test_gpu_memory_for_the_parallel_runs(options, monkeypatch):
    monkeypatch.setattr(plan_module, "gpu_free_mib", lambda device: 3 * GPU_MIB_PER_RUN + 100)
    options.cuda_device = 0
    assert build_plan(options).parallel == min(3, max(1, cpu_cores() // THREADS_PER_RUN))
    options.parallel = 4
    fails_naming("--parallel", options, "4 runs at once need about .* enough for 3")
    options.parallel = 0
    fails_naming("--parallel", options, "at least 1")
    options.parallel = None
    monkeypatch.setattr(plan_module, "gpu_free_mib", lambda device: GPU_MIB_PER_RUN - 1)
    fails_naming("--cuda-device", options, "less than the .* MiB of one run")
    monkeypatch.setattr(plan_module, "gpu_free_mib", lambda device: None)
    fails_naming("--cuda-device", options, "no CUDA device 0")


def test_bad_input_fails_before_anything_is_written(options):
    options.tasks = ("ner", "pos")
    with pytest.raises(StudyOptionError):
        run_study(options)
    assert not options.study_dir.exists()


def test_finished_steps_are_kept_and_an_interrupted_training_needs_recover(options):
    options.configs = ("baseline",)
    ner, chunking = build_plan(options).tagger_jobs[:2]
    ner.directory.mkdir(parents=True)
    marker(ner.directory, "train").write_text("{}")
    chunking.directory.mkdir(parents=True)
    (chunking.directory / "config.json").write_text("{}")
    error = fails_naming("--recover", options)
    assert "chunking/baseline/seed1" in str(error) and "ner/" not in str(error)
    options.recover = True
    plan = build_plan(options)
    ner, chunking, fresh = plan.tagger_jobs[:3]
    assert [step.name for step in ner.pending_steps()] == ["evaluate"]
    assert "--recover" in chunking.steps[0].command
    assert "-f" in fresh.steps[0].command and "--recover" not in fresh.steps[0].command
    marker(ner.directory, "evaluate").write_text("{}")
    assert build_plan(options).tagger_jobs[0].is_done
