import pytest
from allennlp.common import Params

# Importing the plugin sets the configs' environment defaults (FORWARD_LM, LM_STATE_DIM, ...).
import taglm_plugin  # noqa: F401
from tests.conftest import REPO_ROOT

CONFIG_ROOT = REPO_ROOT / "training_configs"


def lm_embedder_of(config: str) -> dict:
    return Params.from_file(str(CONFIG_ROOT / config)).as_dict()["model"]["lm_embedder"]


@pytest.mark.parametrize("task", ["ner", "chunking"])
def test_lm_cache_switches_the_frozen_bilm_cache(task):
    uncached = lm_embedder_of(f"{task}/taglm.jsonnet")
    cached = lm_embedder_of(f"{task}/taglm_cached.jsonnet")
    assert "cache" not in uncached
    assert cached.pop("cache") == {"max_memory_mib": 4096}
    assert cached == uncached


@pytest.mark.parametrize("task", ["ner", "chunking"])
def test_the_cache_is_warmed_up_before_training_unless_told_not_to(task, monkeypatch):
    def warmups(config: str) -> list:
        callbacks = Params.from_file(str(CONFIG_ROOT / config)).as_dict()["trainer"]["callbacks"]
        return [c for c in callbacks
                if isinstance(c, dict) and c["type"] == "taglm_lm_cache_warmup"]  # fmt: skip

    assert warmups(f"{task}/taglm_cached.jsonnet") == [
        {"type": "taglm_lm_cache_warmup", "batch_size": 512}
    ]
    assert warmups(f"{task}/taglm.jsonnet") == []
    monkeypatch.setenv("LM_CACHE_WARMUP_BATCH_SIZE", "0")
    assert warmups(f"{task}/taglm_cached.jsonnet") == []
