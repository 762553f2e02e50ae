"""
Training on train+dev with a run's schedule replayed (`taglm_plugin.study.replay`): the replay
read from a run's metrics, its overrides, and the data that the configs train on then.
"""
import json
import os
from pathlib import Path

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.params import with_overrides
from allennlp.data import DatasetReader, Instance, Vocabulary
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.data.fields import TensorField
from allennlp.training import Trainer

from taglm_plugin.study.plan import evaluate_config
from taglm_plugin.study.replay import Replay, ReplayError, read_replay, train_and_dev
from taglm_plugin.tagging.conll_column import ConllColumnReader
from taglm_plugin.training.learning_rate_schedulers import TagLmReplayStagesScheduler
from tests.conftest import FIXTURES, REPO_ROOT
from tests.training.callbacks.scripted_training import (
    SCORES,
    RecordLearningRateAndWeight,
    ScriptedScoreRegressor,
    train,
)

TAGGER_FIXTURES = FIXTURES / "tagger"
# The trainer config of `scripted_training.train`.
TRAINER = {
    "optimizer": {"type": "sgd", "lr": 0.1},
    "num_epochs": 30,
    "validation_metric": "+score",
    "learning_rate_scheduler": {"type": "taglm_step_down", "patience": 2, "epochs_per_stage": 2},
    "callbacks": ["taglm_stop_after_schedule", "test_record_learning_rate_and_weight"],
}


def scripted_run(directory: Path, scores, **trainer_config):
    """`scripted_training.train` into `directory` with the config.json and metrics.json that
    `allennlp train` writes; returns its records."""
    metrics = train(directory, scores, **trainer_config)["metrics"]
    (directory / "metrics.json").write_text(json.dumps(metrics))
    config = {"trainer": dict(TRAINER, **trainer_config)}
    (directory / "config.json").write_text(json.dumps(config))
    return RecordLearningRateAndWeight.records


def train_without_validation(directory: Path, overrides):
    """The scripted model trained with the trainer overrides and no validation data."""
    config = json.loads(json.dumps(TRAINER))
    for key, value in overrides.items():
        config[key.removeprefix("trainer.")] = value
    RecordLearningRateAndWeight.records = []
    instances = [
        Instance({"x": TensorField(torch.tensor([1.0])), "y": TensorField(torch.tensor([2.0]))})
        for _ in range(2)
    ]
    model = ScriptedScoreRegressor([])
    trainer = Trainer.from_params(
        Params(config),
        model=model,
        serialization_dir=str(directory),
        data_loader=SimpleDataLoader(instances, batch_size=1, vocab=Vocabulary()),
    )
    trainer.train()
    return model.weight.item(), RecordLearningRateAndWeight.records


def test_the_replay_trains_the_weights_of_the_best_epoch_without_validation(tmp_path):
    """`scripted_training.SCORES`: the lr drops after epochs 4 and 6 (the weights of epoch 2
    restored after epoch 4), best epoch 7. The replay, without validation, gives the same
    learning rates and weights in every epoch up to 7, and epoch 7's weights in the end."""
    records = scripted_run(tmp_path / "run", SCORES)
    replay = read_replay(tmp_path / "run")
    restore = {"type": "taglm_replay_restore", "save_epoch": 2, "restore_epoch": 4}
    assert replay == Replay(8, [5, 7], 0.1, [restore, "test_record_learning_rate_and_weight"])
    overrides = replay.overrides()
    assert overrides["trainer.num_epochs"] == 8
    assert overrides["trainer.learning_rate_scheduler"] == {
        "type": "taglm_replay_stages", "stage_starts": [5, 7], "factor": 0.1
    }  # fmt: skip
    weight, replayed = train_without_validation(tmp_path / "replay", overrides)
    assert replayed == records[:8]
    assert weight == records[7]["weight"]


def test_an_interrupted_replay_resumes_to_the_same_weights(tmp_path):
    """Interrupted after epoch 3, between the save (epoch 2) and the restore (epoch 4), and
    resumed from its checkpoint: the weights of epoch 2 come back as without the interruption."""
    records = scripted_run(tmp_path / "run", SCORES)
    overrides = read_replay(tmp_path / "run").overrides()
    train_without_validation(tmp_path / "replay", dict(overrides, **{"trainer.num_epochs": 4}))
    weight, resumed = train_without_validation(tmp_path / "replay", overrides)
    assert resumed == records[4:8] and weight == records[7]["weight"]


def test_replay_stages_checks_its_parameters():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    for stage_starts, factor in (([0], 0.1), ([3, 2], 0.1), ([2, 2], 0.1), ([2], 1.0)):
        with pytest.raises(ConfigurationError):
            TagLmReplayStagesScheduler(optimizer, stage_starts, factor)


def test_a_best_epoch_before_the_first_drop_is_replayed_at_the_first_learning_rate(tmp_path):
    """Best at epoch 2, never improved after the drop: 3 epochs at lr 0.1, nothing restored.
    Without restoring (restore_best_weights false), the drop after epoch 4 is replayed alone."""
    scores = [1.0, 2.0, 3.0, 2.5, 2.0] + [1.0] * 4
    records = scripted_run(tmp_path / "run", scores)
    assert read_replay(tmp_path / "run") == Replay(3, [], 0.1, TRAINER["callbacks"][1:])
    weight, replayed = train_without_validation(
        tmp_path / "replay", read_replay(tmp_path / "run").overrides()
    )
    assert replayed == records[:3] and weight == records[2]["weight"]

    callbacks = [{"type": "taglm_stop_after_schedule", "restore_best_weights": False},
                 "test_record_learning_rate_and_weight"]  # fmt: skip
    scores = [1.0, 2.0, 3.0, 2.5, 2.0, 4.0] + [1.0] * 4
    scripted_run(tmp_path / "no_restore", scores, callbacks=callbacks)
    replay = read_replay(tmp_path / "no_restore")
    assert replay == Replay(6, [5], 0.1, callbacks[1:])


@pytest.fixture
def config(monkeypatch):
    """A task config of training_configs evaluated with the tiny fixtures, as a dict."""
    monkeypatch.chdir(REPO_ROOT)
    env = dict(
        os.environ,
        CONLL2003_DIR=str(TAGGER_FIXTURES / "conll2003"),
        CONLL2000_DIR=str(TAGGER_FIXTURES / "conll2000"),
        GLOVE=str(TAGGER_FIXTURES / "glove.50d.txt"),
    )

    def evaluate(task: str, name: str = "baseline", **overrides):
        path = Path("training_configs") / task / f"{name}.jsonnet"
        return evaluate_config(path, overrides, env).as_dict(quiet=True)

    return evaluate


def sentences(path: Path) -> int:
    return len(ConllColumnReader().read_sentences(str(path)))


def read_training_data(params, overrides):
    """The training instances of `params` with `overrides` (applied as allennlp's `-o`)."""
    params = Params(with_overrides(params, overrides))
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    return list(reader.read(params.pop("train_data_path")))


def test_ner_trains_on_train_and_dev(config):
    params = config("ner")
    data = TAGGER_FIXTURES / "conll2003"
    overrides = train_and_dev(params)
    assert overrides == {
        "validation_data_path": None,
        "train_data_path": [str(data / "eng.train"), str(data / "eng.testa")],
    }
    instances = read_training_data(params, overrides)
    assert len(instances) == sentences(data / "eng.train") + sentences(data / "eng.testa")


def test_chunking_trains_on_the_whole_training_file(config):
    params = config("chunking", **{"dataset_reader.held_out_sentences": 2,
                                   "validation_dataset_reader.held_out_sentences": 2})  # fmt: skip
    overrides = train_and_dev(params)
    assert overrides == {"validation_data_path": None, "dataset_reader.split": "all"}
    train_file = TAGGER_FIXTURES / "conll2000" / "train.txt"
    assert len(read_training_data(params, {})) == sentences(train_file) - 2
    assert len(read_training_data(params, overrides)) == sentences(train_file)


@pytest.mark.parametrize(
    "task, overrides, message",
    [
        ("ner", {"trainer.learning_rate_scheduler": {"type": "constant"}}, "taglm_step_down"),
        ("ner", {"trainer.callbacks": []}, "taglm_stop_after_schedule"),
        ("ner", {"validation_data_path": "x/eng.train", "train_data_path": "x/eng.train"},
         "no dev data"),  # fmt: skip
        ("chunking", {"validation_dataset_reader.split": "all"}, "not split 'held_out'"),
    ],
)
def test_a_config_without_dev_data_or_the_schedule_cannot_be_replayed(
    config, task, overrides, message
):
    with pytest.raises(ReplayError, match=message):
        train_and_dev(config(task, **overrides))
