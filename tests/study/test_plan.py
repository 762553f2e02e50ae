"""
The study's checks (`taglm_plugin.study.plan.build_plan`): every bad option fails before
anything is trained, naming the option; the runs a study directory still needs.
"""
import json
import shutil
import subprocess

import pytest
from allennlp.common import Params

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
    snapshot_record,
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
    # With the LM snapshots at 0.5 of the budget (the default), for 2 seeds (the default).
    assert [job.name for job in plan.tagger_jobs] == [
        f"{task}/{config}/seed{seed}"
        for seed in (1, 2)
        for task in ("ner", "chunking")
        for config in ("baseline", "taglm_cached", "taglm_cached@lm0.5")
    ]
    assert plan.lm_snapshots == [0.5]
    assert [job.needs_lms for job in plan.tagger_jobs[:3]] == [False, True, True]
    assert [job.lm_snapshot for job in plan.tagger_jobs[:3]] == [None, None, 0.5]
    taglm, snapshot_taglm = plan.tagger_jobs[1:3]
    # The `small` LM's states are 16-dimensional; the taggers load the encoder exports.
    assert taglm.env["LM_STATE_DIM"] == snapshot_taglm.env["LM_STATE_DIM"] == "16"
    forward = plan.lm_jobs[0].directory
    assert taglm.env["FORWARD_LM"] == str(forward / "encoder.tar.gz")
    assert snapshot_taglm.env["FORWARD_LM"] == str(forward / "encoder@lm0.5.tar.gz")
    assert snapshot_taglm.env["BACKWARD_LM"] == str(
        plan.lm_jobs[1].directory / "encoder@lm0.5.tar.gz"
    )
    assert "taglm_cached.jsonnet" in snapshot_taglm.steps[0].command[4]
    assert snapshot_taglm.directory == options.study_dir / "runs/ner/taglm_cached@lm0.5/seed1"
    assert taglm.env["SEED"] == "1" and plan.tagger_jobs[6].env["SEED"] == "2"
    assert [step.name for step in taglm.steps] == ["train", "evaluate"]
    assert [step.name for step in plan.lm_jobs[0].steps] == ["train", "export", "export@lm0.5"]
    # On the CPU (allennlp's loss scaler needs a GPU).
    assert plan.lm_jobs[0].env["LM_PRECISION"] == "bfloat16"
    assert plan.lm_jobs[0].env["LM_LSTM_PRECISION"] == "float32"
    assert plan.lm_jobs[0].env["LM_CACHE_DIR"] != plan.lm_jobs[1].env["LM_CACHE_DIR"]
    assert plan.parallel == max(1, cpu_cores() // THREADS_PER_RUN)


def test_the_lms_keep_the_snapshots(options):
    """The LM trainings get `taglm_lm_snapshots` after the config's own callbacks."""
    lm = build_plan(options).lm_jobs[0]
    command = lm.steps[0].command
    config, overrides = command[4], command[command.index("-o") + 1]
    params = Params.from_file(config, overrides, ext_vars=lm.env)
    callbacks = params.as_dict()["trainer"]["callbacks"]
    assert [callback["type"] for callback in callbacks] == [
        "taglm_token_throughput", "taglm_stop_after_seconds", "taglm_lm_snapshots"
    ]  # fmt: skip
    # The small preset trains 2 epochs; the study's budget is --lm-seconds.
    assert callbacks[-1] == {"type": "taglm_lm_snapshots", "fractions": [0.5],
                             "seconds": options.lm_seconds, "num_epochs": 2}  # fmt: skip
    options.lm_snapshots = (0,)
    command = build_plan(options).lm_jobs[0].steps[0].command
    assert "taglm_lm_snapshots" not in command[command.index("-o") + 1]


def test_lm_snapshot_options(options):
    options.lm_snapshots = (0.75, 0.25)
    plan = build_plan(options)
    assert plan.lm_snapshots == [0.25, 0.75]
    assert [step.name for step in plan.lm_jobs[1].steps][2:] == ["export@lm0.25", "export@lm0.75"]
    for off in ((), (0,), (0.0,)):
        options.lm_snapshots = off
        plan = build_plan(options)
        assert plan.lm_snapshots == [] and len(plan.tagger_jobs) == 8
        assert not any("@" in job.config for job in plan.tagger_jobs)
    # Fewer snapshot seeds than seeds, and more.
    options.lm_snapshots, options.seeds, options.lm_snapshot_seeds = (0.5,), 2, 1
    names = [job.name for job in build_plan(options).tagger_jobs]
    assert [name for name in names if "@" in name] == [
        "ner/taglm_cached@lm0.5/seed1", "chunking/taglm_cached@lm0.5/seed1"
    ]  # fmt: skip
    options.seeds, options.lm_snapshot_seeds = 1, 2
    names = [job.name for job in build_plan(options).tagger_jobs]
    assert names[6:] == ["ner/taglm_cached@lm0.5/seed2", "chunking/taglm_cached@lm0.5/seed2"]
    # Without taglm_cached there is nothing to train with the snapshots.
    options.configs = ("baseline",)
    assert build_plan(options).lm_snapshots == []


@pytest.mark.parametrize("fractions, match", [
    ((1.0,), "1 is not a fraction of the LM budget strictly between 0 and 1"),
    ((0.5, 0), "0 is not a fraction"),
    ((-0.5,), "-0.5 is not a fraction"),
    ((0.5, 2.0), "2 is not a fraction"),
    ((0.5, 0.5), "given twice"),
])  # fmt: skip
def test_bad_lm_snapshots(options, fractions, match):
    options.lm_snapshots = fractions
    fails_naming("--lm-snapshots", options, match)


def test_bad_lm_snapshot_seeds(options):
    options.lm_snapshot_seeds = 0
    fails_naming("--lm-snapshot-seeds", options, "at least 1, not 0")


def test_finished_lms_need_the_snapshots_asked_for(options):
    lm_directory = build_plan(options).lm_jobs[0].directory
    lm_directory.mkdir(parents=True)
    marker(lm_directory, "train").write_text("{}")
    marker(lm_directory, "export").write_text("{}")
    fails_naming("--lm-snapshots", options, "finished training without a snapshot at 0.5")
    snapshot_record(lm_directory, 0.5).write_text(json.dumps({"fraction": 0.5, "epoch": 0}))
    lm = build_plan(options).lm_jobs[0]
    assert [step.name for step in lm.pending_steps()] == ["export@lm0.5"]
    options.lm_snapshots = (0.5, 0.25)
    fails_naming("--lm-snapshots", options, "without a snapshot at 0.25")


def test_the_lms_share_the_cores_unless_told_how_many_processes_tokenize():
    assert lm_tokenizing_processes({}) == str(max(1, cpu_cores() // 2))
    assert lm_tokenizing_processes({"LM_TOKENIZING_PROCESSES": "0"}) == lm_tokenizing_processes({})
    assert lm_tokenizing_processes({"LM_TOKENIZING_PROCESSES": "3"}) == "3"


def test_ablations_are_ner_configs(options):
    options.ablations = True
    configs = {job.config for job in build_plan(options).tagger_jobs if job.task == "ner"}
    assert configs == {"baseline", "taglm_cached", "taglm_cached@lm0.5", *NER_ABLATIONS}
    options.tasks = ("chunking",)
    fails_naming("--ablations", options)


def test_a_baseline_study_needs_no_lm_text(options):
    options.configs, options.lm_text = ("baseline",), ()
    plan = build_plan(options)
    assert plan.lm_jobs == [] and len(plan.tagger_jobs) == 4 and plan.lm_snapshots == []


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


def test_variants_are_trained_with_every_seed_and_evaluated_if_selected(options, tmp_path):
    """`--variants`: after each run of a config, one run per variant, trained with the study's
    overrides and the variant's; their test evaluation goes through the dev selection, after
    every run of the config and its variants."""
    overrides = {"ner": {"trainer.grad_norm": 1.0}}
    variants = {"ner": {"baseline": {"bs8": {"data_loader.batch_sampler.batch_size": 8},
                                     "lr.2": {"trainer.optimizer.lr": 0.002}}}}  # fmt: skip
    (tmp_path / "overrides.json").write_text(json.dumps(overrides))
    (tmp_path / "variants.json").write_text(json.dumps(variants))
    options.overrides_file = str(tmp_path / "overrides.json")
    options.variants = str(tmp_path / "variants.json")
    options.tasks, options.configs, options.lm_snapshots = ("ner",), ("baseline",), ()
    plan = build_plan(options)
    names = ["baseline", "baseline~bs8", "baseline~lr.2"]
    assert [job.name for job in plan.tagger_jobs] == [
        f"ner/{name}/seed{seed}" for seed in (1, 2) for name in names
    ]
    (selection,) = plan.selections
    assert selection.candidates == names and selection.seeds == 2
    assert selection.file == options.study_dir / "runs/ner/baseline~selection.json"
    assert selection.variants == {f"baseline~{name}": value
                                  for name, value in variants["ner"]["baseline"].items()}
    config, bs8 = plan.tagger_jobs[3], plan.tagger_jobs[4]
    assert bs8.directory == options.study_dir / "runs/ner/baseline~bs8/seed2"
    assert bs8.env == config.env and bs8.env["SEED"] == "2"
    train = bs8.steps[0].command
    assert train[:5] == config.steps[0].command[:5]
    assert json.loads(train[train.index("-o") + 1]) == {
        "trainer.grad_norm": 1.0, "data_loader.batch_sampler.batch_size": 8
    }
    assert config.steps[1].after == [] and bs8.steps[0].after == []
    assert bs8.steps[1].after == plan.tagger_jobs
    evaluate = bs8.steps[1].command
    runs = options.study_dir / "runs" / "ner"
    assert evaluate[1:9] == ["-m", "taglm_plugin.study.selection", str(selection.file),
                             "baseline~bs8", "2", *(str(runs / name) for name in names)]
    assert evaluate[9] == "--" and "evaluate" in evaluate[10:]
    assert str(bs8.directory / "model.tar.gz") in evaluate


def test_a_key_ending_in_two_colons_sets_a_hidden_field_of_the_config(options, tmp_path):
    """`"casing_dim::": 6` in a variant (or a task's `--overrides-file` entry) sets the config's
    hidden field: its runs train `configs/TASK/RUN.jsonnet`, which imports the config; the
    runs without such keys train the config itself."""
    overrides = {"ner": {"trainer.grad_norm": 1.0}}
    variants = {"ner": {"baseline": {"casing6": {"casing_dim::": 6, "trainer.optimizer.lr": 0.002},
                                     "lr2": {"trainer.optimizer.lr": 0.002}}}}  # fmt: skip
    (tmp_path / "overrides.json").write_text(json.dumps(overrides))
    (tmp_path / "variants.json").write_text(json.dumps(variants))
    options.overrides_file = str(tmp_path / "overrides.json")
    options.variants = str(tmp_path / "variants.json")
    options.tasks, options.configs, options.lm_snapshots = ("ner",), ("baseline",), ()
    options.seeds = 1
    config, casing, lr2 = build_plan(options).tagger_jobs
    written = options.study_dir / "configs" / "ner" / "baseline~casing6.jsonnet"
    assert casing.steps[0].config == (written, {"trainer.grad_norm": 1.0,
                                                "trainer.optimizer.lr": 0.002})  # fmt: skip
    command = casing.steps[0].command
    assert command[command.index("train") + 1] == str(written)
    baseline = REPO_ROOT / "training_configs" / "ner" / "baseline.jsonnet"
    assert config.steps[0].config[0].resolve() == lr2.steps[0].config[0].resolve() == baseline
    assert sorted(path.name for path in written.parent.iterdir()) == [written.name]
    params = plan_module.evaluate_config(written, {}, config.env).as_dict(quiet=True)
    assert params["model"]["text_field_embedder"]["token_embedders"]["casing"]["embedding_dim"] == 6
    without = plan_module.evaluate_config(baseline, {}, config.env).as_dict(quiet=True)
    assert "casing" not in without["model"]["text_field_embedder"]["token_embedders"]
    # The same key in the task's overrides: every run of the task trains a written config.
    overrides["ner"]["casing_dim::"] = 4
    (tmp_path / "overrides.json").write_text(json.dumps(overrides))
    config, casing, lr2 = build_plan(options).tagger_jobs
    assert config.steps[0].config == (options.study_dir / "configs/ner/baseline.jsonnet",
                                      {"trainer.grad_norm": 1.0})  # fmt: skip
    assert lr2.steps[0].config[0] == options.study_dir / "configs/ner/baseline~lr2.jsonnet"
    assert '"casing_dim":: 6' in casing.steps[0].config[0].read_text()  # the variant's value


@pytest.mark.parametrize("field, match", [
    ("casing_dm", "baseline.jsonnet has no hidden field 'casing_dm'"),
    ("model", "has no hidden field 'model'"),  # a visible field
    ("casing-dim", "'casing-dim::' does not name a config field"),
])  # fmt: skip
def test_a_field_the_config_does_not_hide_is_refused(options, tmp_path, field, match):
    options.tasks, options.configs = ("ner",), ("baseline",)
    (tmp_path / "variants.json").write_text(
        json.dumps({"ner": {"baseline": {"a": {f"{field}::": 1}}}})
    )
    options.variants = str(tmp_path / "variants.json")
    fails_naming("--variants", options, match)


def test_retrain_with_dev_replays_the_config_not_its_last_variant(options, tmp_path):
    """`--retrain-with-dev` retrains the configs as given: a variant whose schedule could not be
    replayed (no `taglm_stop_after_schedule`) does not make the config's retraining fail."""
    variants = {"ner": {"baseline": {"nostop": {"trainer.callbacks": []}}}}
    (tmp_path / "variants.json").write_text(json.dumps(variants))
    options.variants = str(tmp_path / "variants.json")
    options.tasks, options.configs, options.lm_snapshots = ("ner",), ("baseline",), ()
    options.seeds, options.retrain_with_dev = 1, True
    plan = build_plan(options)
    assert [job.name for job in plan.tagger_jobs] == [
        "ner/baseline/seed1", "ner/baseline~nostop/seed1", "ner/baseline+dev/seed1"
    ]


def test_a_selection_made_among_other_candidates_or_seeds_is_refused(options, tmp_path):
    """A study directory whose dev selection was made with other seeds or variants: those
    runs' test evaluations were decided by it, so the study refuses to go on there."""
    variants = {"ner": {"baseline": {"lr2": {"trainer.optimizer.lr": 0.002}}}}
    (tmp_path / "variants.json").write_text(json.dumps(variants))
    options.variants = str(tmp_path / "variants.json")
    options.tasks, options.configs, options.lm_snapshots = ("ner",), ("baseline",), ()
    (selection,) = build_plan(options).selections
    selection.file.parent.mkdir(parents=True)
    made = {"selected": "baseline", "candidates": {
        name: {"seeds": [1, 2], "dev_f1": [90.0, 91.0], "mean_dev_f1": 90.5}
        for name in ("baseline", "baseline~lr2")}}  # fmt: skip
    selection.file.write_text(json.dumps(made))
    build_plan(options)  # the same candidates and seeds: the study goes on
    # The same with a candidate left out of the selection (a run of it had failed to train).
    left_out = {"selected": "baseline", "candidates": {"baseline": made["candidates"]["baseline"]},
                "not_trained": {"baseline~lr2": [2]}}  # fmt: skip
    selection.file.write_text(json.dumps(left_out))
    build_plan(options)
    selection.file.write_text(json.dumps(made))
    options.seeds = 3
    fails_naming("--variants", options, "made among baseline, baseline~lr2 with seeds 1, 2, "
                 "not baseline, baseline~lr2 with seeds 1-3")  # fmt: skip
    options.seeds = 2
    variants["ner"]["baseline"]["bs8"] = {"data_loader.batch_sampler.batch_size": 8}
    (tmp_path / "variants.json").write_text(json.dumps(variants))
    fails_naming("--variants", options, "another directory")


@pytest.mark.parametrize("variants, match", [
    ("not json", "cannot read"),
    ([], "must hold"),
    ({"chunking": {"baseline": {"a": {}}}}, "'chunking', which is not in --tasks"),
    ({"ner": {"taglm": {"a": {}}}}, "'taglm', which the study does not train.*baseline"),
    ({"ner": {"baseline": {}}}, "must hold"),
    ({"ner": {"baseline": {"a": 1}}}, "must hold"),
    ({"ner": {"baseline": {"a/b": {}}}}, "'a/b' .* is not a variant name"),
    ({"ner": {"baseline": {"selection": {}}}}, "'selection' .* is not a variant name"),
    ({"ner": {"baseline": {"a": {"trainer.num_epochs.x": 1}}}},
     "baseline.jsonnet does not evaluate.*trainer.num_epochs"),
    ({"ner": {"baseline": {"a": {"model.encoder.dropout_msk": "sentence"}}}},
     "baseline.jsonnet: model.encoder.dropout_msk: not a parameter of 'taglm_birnn'"),
    ({"ner": {"baseline": {"a": {"model": {"encoder": {"type": "taglm_birnn",
                                                       "hiden_sizes": [2]}}}}}},
     "model.encoder.hiden_sizes: not a parameter of 'taglm_birnn'"),
])  # fmt: skip
def test_bad_variants(options, tmp_path, variants, match):
    options.tasks, options.configs = ("ner",), ("baseline",)
    path = tmp_path / "variants.json"
    path.write_text(variants if isinstance(variants, str) else json.dumps(variants))
    options.variants = str(path)
    fails_naming("--variants", options, match)


@pytest.mark.parametrize("cuda_device, precision, lstm_precision, expected", [
    (0, None, None, ("float16", "mixed")),
    (-1, None, None, ("bfloat16", "float32")),
    (0, "bfloat16", None, ("bfloat16", "float32")),
    (0, "float32", None, ("float32", "float32")),
    (0, None, "float32", ("float16", "float32")),
    (0, "bfloat16", "mixed", ("bfloat16", "mixed")),
])  # fmt: skip
def test_lm_precisions(options, monkeypatch, cuda_device, precision, lstm_precision, expected):
    monkeypatch.setattr(plan_module, "gpu_free_mib", lambda device: 100 * GPU_MIB_PER_RUN)
    options.cuda_device = cuda_device
    options.lm_precision, options.lm_lstm_precision = precision, lstm_precision
    for job in build_plan(options).lm_jobs:
        assert (job.env["LM_PRECISION"], job.env["LM_LSTM_PRECISION"]) == expected


def test_float16_lms_need_a_gpu(options):
    options.lm_precision = "float16"
    fails_naming("--lm-precision", options, "needs a GPU")


def test_bad_lm_setting(options):
    options.lm_precision = "int8"
    fails_naming("--lm-size / --lm-precision / --lm-lstm-precision / --lm-softmax-precision / "
                 "--overrides-file", options, "LM_PRECISION must be one of")  # fmt: skip
    options.lm_precision, options.lm_lstm_precision = None, "half"
    fails_naming("--lm-size / --lm-precision / --lm-lstm-precision / --lm-softmax-precision / "
                 "--overrides-file", options, "LM_LSTM_PRECISION must be one of")  # fmt: skip


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
        run_study(options, ["allennlp", "taglm-study"])
    assert not options.study_dir.exists()


def write_started_config(job) -> None:
    """`job`'s directory as its training leaves it when interrupted: the config it trains."""
    job.directory.mkdir(parents=True)
    config, overrides = job.steps[0].config
    Params.from_file(str(config), json.dumps(overrides), ext_vars=job.env).to_file(
        str(job.directory / "config.json")
    )


def test_finished_steps_are_kept_and_an_interrupted_training_needs_recover(options):
    options.configs = ("baseline",)
    ner, chunking = build_plan(options).tagger_jobs[:2]
    ner.directory.mkdir(parents=True)
    marker(ner.directory, "train").write_text("{}")
    write_started_config(chunking)
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


def test_an_interrupted_run_resumes_only_with_the_config_it_was_started_with(options):
    """What `allennlp train --recover` would refuse, deep in a run, fails the plan instead,
    naming the changed keys: here the LMs' snapshot fractions and budget, a tagger's epochs."""
    options.recover = True
    plan = build_plan(options)
    forward, tagger = plan.lm_jobs[0], plan.tagger_jobs[0]
    write_started_config(forward)
    write_started_config(tagger)
    plan = build_plan(options)
    assert "--recover" in plan.lm_jobs[0].steps[0].command
    assert "--recover" in plan.tagger_jobs[0].steps[0].command
    options.lm_snapshots = (0.25,)
    fails_naming("--recover", options, r"lm/forward cannot resume: .* at trainer\.callbacks;")
    options.lm_snapshots, options.lm_seconds = (0.5,), options.lm_seconds + 1
    fails_naming("--recover", options, r"lm/forward .* at trainer\.callbacks;")
    options.lm_seconds -= 1
    options.num_epochs += 1
    error = fails_naming("--recover", options, "ner/baseline/seed1 cannot resume")
    assert "trainer.num_epochs" in str(error) and str(tagger.directory / "config.json") in str(
        error
    )


def test_a_config_json_that_does_not_read_fails_the_plan_naming_recover(options):
    """An empty or cut-off config.json (a kill while allennlp wrote it), and one of another
    model entirely: the error names the file, and lists at most ten of the changed keys."""
    options.recover, options.configs, options.tasks = True, ("baseline",), ("ner",)
    job = build_plan(options).tagger_jobs[0]
    job.directory.mkdir(parents=True)
    (job.directory / "config.json").write_text('{"model": {"type": ')
    error = fails_naming("--recover", options, "ner/baseline/seed1 cannot resume")
    assert str(job.directory / "config.json") in str(error) and "delete the directory" in str(error)
    (job.directory / "config.json").write_text("{}")
    error = fails_naming("--recover", options, r"ner/baseline/seed1 .* and \d+ more;")
    assert str(error).count("trainer.") + str(error).count("model.") <= 10


def test_a_started_training_resumes_with_the_same_options(options):
    """`config.json` as `allennlp train` writes it is the config the plan compares it with."""
    options.configs, options.tasks, options.num_epochs = ("baseline",), ("ner",), 1
    job = build_plan(options).tagger_jobs[0]
    subprocess.run(job.steps[0].command, env=job.env, check=True, capture_output=True)
    assert (job.directory / "config.json").is_file()
    options.recover = True
    assert "--recover" in build_plan(options).tagger_jobs[0].steps[0].command
    options.num_epochs = 2
    fails_naming("--recover", options, r"ner/baseline/seed1 .* trainer\.num_epochs;")


def test_retrain_with_dev_adds_a_run_per_train_only_run(options, tmp_path):
    """After the train-only runs, `CONFIG+dev` of each (not of the LM snapshot runs), trained
    by `taglm_plugin.study.retrain` with the study's overrides and the train+dev data; an
    interrupted one resumes with --recover; off by default."""
    overrides = {"chunking": {"dataset_reader.held_out_sentences": 2}}
    (tmp_path / "overrides.json").write_text(json.dumps(overrides))
    options.overrides_file = str(tmp_path / "overrides.json")
    options.seeds, options.lm_snapshot_seeds = 1, 1
    default = [job.name for job in build_plan(options).tagger_jobs]
    options.retrain_with_dev = True
    plan = build_plan(options)
    assert [job.name for job in plan.tagger_jobs] == default + [
        f"{task}/{config}+dev/seed1" for task in ("ner", "chunking")
        for config in ("baseline", "taglm_cached")
    ]  # fmt: skip
    by_name = {job.name: job for job in plan.tagger_jobs}
    retrain = by_name["chunking/taglm_cached+dev/seed1"]
    assert retrain.retrains is by_name["chunking/taglm_cached/seed1"]
    assert retrain.directory == options.study_dir / "runs/chunking/taglm_cached+dev/seed1"
    assert retrain.needs_lms and retrain.env == retrain.retrains.env
    command = retrain.steps[0].command
    assert command[1:4] == ["-m", "taglm_plugin.study.retrain", str(retrain.retrains.directory)]
    assert command[4:] == retrain.retrains.steps[0].command[:6] + [
        str(retrain.directory), "-f", "-o", json.dumps(
            dict(overrides["chunking"], validation_data_path=None,
                 **{"dataset_reader.split": "all"})),
        "--include-package", "taglm_plugin",
    ]  # fmt: skip
    assert retrain.steps[1].command[4] == str(retrain.directory / "model.tar.gz")
    ner = by_name["ner/baseline+dev/seed1"].steps[0].command
    assert '"train_data_path": [' in ner[ner.index("-o") + 1]
    retrain.directory.mkdir(parents=True)
    (retrain.directory / "config.json").write_text("{}")
    fails_naming("--recover", options, "chunking/taglm_cached\\+dev/seed1")
    options.recover = True
    retrain = build_plan(options).tagger_jobs[-1]
    assert "--recover" in retrain.steps[0].command
    for step in ("train", "evaluate"):
        marker(retrain.directory, step).write_text("{}")
    assert build_plan(options).tagger_jobs[-1].is_done


def test_retrain_with_dev_needs_dev_data_and_the_schedule(options, tmp_path):
    options.retrain_with_dev, options.configs = True, ("baseline",)
    overrides = {"ner": {"trainer.learning_rate_scheduler": {"type": "constant"}}}
    (tmp_path / "overrides.json").write_text(json.dumps(overrides))
    options.overrides_file = str(tmp_path / "overrides.json")
    fails_naming("--retrain-with-dev", options, "ner/baseline.jsonnet cannot be trained on "
                 "train\\+dev: .*taglm_step_down")  # fmt: skip
    options.retrain_with_dev = False
    assert len(build_plan(options).tagger_jobs) == 4


@pytest.mark.parametrize("path", sorted(REPO_ROOT.glob("scripts/gpu_study/*variants*.json")),
                         ids=lambda path: path.name)  # fmt: skip
def test_the_variants_files_for_the_gpu_evaluate_and_name_only_parameters(options, path):
    """What `--variants` checks before training, for the files that scripts/gpu_study runs."""
    env = plan_module.base_env(options)
    for task, by_config in json.loads(path.read_text()).items():
        for config, by_name in by_config.items():
            for name, overrides in by_name.items():
                config_path = REPO_ROOT / "training_configs" / task / f"{config}.jsonnet"
                written = options.study_dir / f"{name}.jsonnet"
                run = plan_module.config_fields(config_path, overrides, written, "--variants")
                plan_module.evaluate_config(*run, env, "--variants")
