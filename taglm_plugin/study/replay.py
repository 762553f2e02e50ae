"""
Training a tagger again on its training and dev data (`taglm-study --retrain-with-dev`) for the
epochs that its train-only run used up to its best epoch, with that run's learning-rate
schedule replayed: the `taglm_step_down` schedule decides on dev when the learning rate drops
(and `taglm_stop_after_schedule` restores the best weights then), and without dev there is
nothing to decide on, so the replay trains at the same learning rate in every epoch
(`taglm_replay_stages`) and restores the weights of the same epoch at the same point
(`taglm_replay_restore`), without validation; the model of its last epoch is kept.
`train_and_dev` gives a config's data overrides, `read_replay` a finished run's schedule;
`taglm_plugin.study.retrain` runs the training.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.metric_tracker import MetricTracker

from taglm_plugin.study.json_files import read_json
from taglm_plugin.training.learning_rate_schedulers.taglm_step_down import (
    TagLmStepDownScheduler,
)

STEP_DOWN = "taglm_step_down"
STOP_AFTER_SCHEDULE = "taglm_stop_after_schedule"


class ReplayError(ConfigurationError):
    """A config or run whose training on train+dev cannot be replayed."""


def callback_type(callback: Any) -> str:
    """The type of a trainer callback config: a name or `{"type": NAME, ...}`."""
    return callback if isinstance(callback, str) else callback["type"]


def schedule_callback(trainer: Dict[str, Any]) -> Dict[str, Any]:
    """The `taglm_stop_after_schedule` callback config (as `{"type", ...}`) of `trainer`, a
    config's trainer section; a `ReplayError` unless it trains with that callback and the
    `taglm_step_down` scheduler."""
    scheduler = trainer.get("learning_rate_scheduler") or {}
    scheduler_type = scheduler if isinstance(scheduler, str) else scheduler.get("type")
    callbacks = trainer.get("callbacks", [])
    stops = [c for c in callbacks if callback_type(c) == STOP_AFTER_SCHEDULE]
    if scheduler_type != STEP_DOWN or len(stops) != 1:
        raise ReplayError(
            f"the replay needs trainer.learning_rate_scheduler {STEP_DOWN} and the "
            f"{STOP_AFTER_SCHEDULE} callback; the config has {scheduler_type!r} and "
            f"{len(stops)} such callbacks"
        )
    return {"type": stops[0]} if isinstance(stops[0], str) else stops[0]


def train_and_dev(params: Dict[str, Any]) -> Dict[str, Any]:
    """
    The overrides that make a tagger config (`params`, evaluated) train on its training and
    its dev data, without validation; a `ReplayError` where it has no dev data of either kind:

    * dev held out of the training file (`dataset_reader.split` "train" and
      `validation_dataset_reader.split` "held_out" on one `split_file`, chunking.libsonnet):
      the whole training file, `{"dataset_reader.split": "all"}`;
    * a dev file (`validation_data_path` another file, no split, ner.libsonnet): both files,
      `{"train_data_path": [TRAIN, DEV]}`.
    """
    schedule_callback(params["trainer"])
    train, dev = params["train_data_path"], params.get("validation_data_path")
    reader = params["dataset_reader"]
    validation_reader = params.get("validation_dataset_reader", reader)
    overrides: Dict[str, Any] = {"validation_data_path": None}
    if reader.get("split", "all") == "train":
        if validation_reader.get("split") != "held_out" or not (
            train == dev == reader.get("split_file") == validation_reader.get("split_file")
        ):
            raise ReplayError(
                "the config's dataset_reader reads split 'train' of a file, but its "
                "validation data is not split 'held_out' of that file"
            )
        return dict(overrides, **{"dataset_reader.split": "all"})
    if not isinstance(train, str) or not isinstance(dev, str) or train == dev:
        raise ReplayError(
            f"the config has no dev data beside its training data (train_data_path {train!r}, "
            f"validation_data_path {dev!r}, no split)"
        )
    if validation_reader.get("split", "all") != "all":
        raise ReplayError("the config's validation_dataset_reader reads a split of its file")
    return dict(overrides, train_data_path=[train, dev])


@dataclass(frozen=True)
class Replay:
    """
    The schedule of a finished `taglm_step_down` run up to its best epoch: `num_epochs` (the
    best epoch + 1), `stage_starts` (the first epoch of every lower learning rate), `factor`
    (the learning-rate multiplier of each), and `callbacks`, the run's trainer callbacks with
    `taglm_stop_after_schedule` replaced by `taglm_replay_restore` where the run restored the
    weights of an epoch before its best epoch, else left out.
    """

    num_epochs: int
    stage_starts: List[int]
    factor: float
    callbacks: List[Any]

    def overrides(self) -> Dict[str, Any]:
        """The trainer overrides that replay the schedule."""
        return {
            "trainer.num_epochs": self.num_epochs,
            "trainer.learning_rate_scheduler": {
                "type": "taglm_replay_stages",
                "stage_starts": self.stage_starts,
                "factor": self.factor,
            },
            "trainer.callbacks": self.callbacks,
        }


def read_replay(run_directory: Path) -> Replay:
    """The `Replay` of the finished run in `run_directory` (allennlp's `config.json`,
    `metrics.json` and `metrics_epoch_N.json`): its `taglm_step_down` scheduler stepped again
    with the validation metric of every epoch before the best one."""
    trainer = read_json(run_directory / "config.json")["trainer"]
    restores = schedule_callback(trainer).get("restore_best_weights", True)
    scheduler = {k: v for k, v in trainer["learning_rate_scheduler"].items() if k != "type"}
    parameter = torch.nn.Parameter(torch.zeros(1))
    schedule = TagLmStepDownScheduler(torch.optim.SGD([parameter], lr=1.0), **scheduler)
    tracker = MetricTracker(trainer.get("validation_metric", "-loss"))  # allennlp's default
    best_epoch = read_json(run_directory / "metrics.json")["best_epoch"]
    stage_starts: List[int] = []
    restore: List[Any] = []
    for epoch in range(best_epoch):
        metrics = read_json(run_directory / f"metrics_epoch_{epoch}.json")
        stage = schedule.stage
        validation = {
            key.removeprefix("validation_"): value
            for key, value in metrics.items()
            if key.startswith("validation_")
        }
        schedule.step(tracker.combined_score(validation))
        if schedule.stage > stage:
            stage_starts.append(epoch + 1)
        if schedule.annealing_started and restores:
            restore = [{"type": "taglm_replay_restore", "save_epoch": metrics["best_epoch"],
                        "restore_epoch": epoch}]  # fmt: skip
    # In the callback's place: the callbacks before it see the weights before the restore.
    callbacks = [
        each
        for callback in trainer["callbacks"]
        for each in (restore if callback_type(callback) == STOP_AFTER_SCHEDULE else [callback])
    ]
    return Replay(best_epoch + 1, stage_starts, schedule.factor, callbacks)
