from pathlib import Path

import pytest
from allennlp.common import Params

# Importing the plugin sets the configs' environment defaults (CUDA_DEVICES, ...).
import taglm_plugin  # noqa: F401
from taglm_plugin.common.config_defaults import DEFAULTS
from tests.conftest import REPO_ROOT

CONFIGS = sorted((REPO_ROOT / "training_configs").glob("*/*.jsonnet"))


def config_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_cuda_devices_switches_distributed_training_on(monkeypatch, config):
    assert DEFAULTS["CUDA_DEVICES"] == ""
    monkeypatch.setenv("CUDA_DEVICES", "")
    assert "distributed" not in Params.from_file(str(config)).as_dict()
    monkeypatch.setenv("CUDA_DEVICES", "0, 1")
    assert Params.from_file(str(config)).as_dict()["distributed"] == {"cuda_devices": [0, 1]}
