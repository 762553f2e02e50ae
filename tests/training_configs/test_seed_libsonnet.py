import os
from unittest import mock

import pytest
from allennlp.common import Params

from taglm_plugin.common import config_defaults
from tests.conftest import REPO_ROOT

SEED_LIBSONNET = REPO_ROOT / "training_configs" / "common" / "seed.libsonnet"
SEED_KEYS = ("random_seed", "numpy_seed", "pytorch_seed")


def seeds_of(config_path) -> dict:
    params = Params.from_file(str(config_path))
    return {key: params.get(key) for key in SEED_KEYS}


def test_seed_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEED", "3")
    assert seeds_of(SEED_LIBSONNET) == dict.fromkeys(SEED_KEYS, 3)


def test_without_seed_the_plugin_default_applies():
    with mock.patch.dict(os.environ):
        os.environ.pop("SEED", None)
        config_defaults.apply()
        seeds = seeds_of(SEED_LIBSONNET)
    assert seeds == dict.fromkeys(SEED_KEYS, int(config_defaults.DEFAULTS["SEED"]))


@pytest.mark.parametrize("seed", ["", "-1", "one"])
def test_a_seed_that_is_not_a_non_negative_integer_is_an_error_naming_seed(monkeypatch, seed):
    monkeypatch.setenv("SEED", seed)
    with pytest.raises(RuntimeError, match="SEED must be a non-negative integer"):
        seeds_of(SEED_LIBSONNET)


def test_training_configs_take_their_seeds_from_seed(monkeypatch):
    monkeypatch.setenv("SEED", "5")
    with mock.patch.dict(os.environ):
        config_defaults.apply()
        seeds = seeds_of(REPO_ROOT / "training_configs" / "ner" / "baseline.jsonnet")
    assert seeds == dict.fromkeys(SEED_KEYS, 5)
