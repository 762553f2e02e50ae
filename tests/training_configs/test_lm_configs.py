import json
import os
import subprocess
import sys

import pytest
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model

# Importing the plugin registers its components and sets the configs' environment defaults.
from taglm_plugin.common.config_defaults import DEFAULTS
from taglm_plugin.lm.language_model import LanguageModel
from tests.conftest import FIXTURES, REPO_ROOT

LM_CONFIGS = REPO_ROOT / "training_configs" / "lm"
WIKI_ARCHIVE = str(FIXTURES / "lm" / "enwiki_sample.tar.gz")


def lm_config(monkeypatch, direction: str, size: str) -> dict:
    monkeypatch.setenv("LM_SIZE", size)
    monkeypatch.setenv("LM_TIME_BUDGET_SECONDS", "0")
    return Params.from_file(str(LM_CONFIGS / f"{direction}.jsonnet")).as_dict()


def without_direction(config: dict) -> dict:
    for key in ("dataset_reader", "validation_dataset_reader", "model"):
        config[key] = {k: v for k, v in config[key].items() if k != "direction"}
    if "dataset_reader" in config["vocabulary"]:
        config["vocabulary"]["dataset_reader"] = config["dataset_reader"]
    return config


def test_forward_and_backward_differ_only_in_direction(monkeypatch):
    forward = lm_config(monkeypatch, "forward", "paper")
    backward = lm_config(monkeypatch, "backward", "paper")
    assert forward["model"]["direction"] == forward["dataset_reader"]["direction"] == "forward"
    assert backward["model"]["direction"] == backward["dataset_reader"]["direction"] == "backward"
    assert without_direction(forward) == without_direction(backward)


def test_validation_is_the_held_out_part_of_the_training_data(monkeypatch):
    config = lm_config(monkeypatch, "forward", "small")
    assert config["validation_data_path"] == config["train_data_path"]
    assert config["dataset_reader"]["split"] == "train"
    assert config["validation_dataset_reader"]["split"] == "held_out"
    assert config["datasets_for_vocab_creation"] == ["train"]


def test_paper_size_is_a_char_cnn_and_lstm_2048_512(monkeypatch):
    model = lm_config(monkeypatch, "forward", "paper")["model"]
    char_cnn = model["text_field_embedder"]["token_embedders"]["elmo"]["encoder"]
    assert sum(number for _, number in char_cnn["filters"]) == 2048
    assert char_cnn["num_highway"] == 2 and char_cnn["projection_dim"] == 512
    encoder = model["encoder"]
    assert (encoder["hidden_size"], encoder["projection_size"], encoder["num_layers"]) == (
        2048,
        512,
        2,
    )


def test_budget_size_validates_every_256000_sentences(monkeypatch, tmp_path):
    # Several validations (perplexity over time) and time-budget checks within minutes, after
    # as many sentences as `paper`'s, in the batches of the fixed-time A/B's best variant.
    monkeypatch.setenv("LM_CACHE_DIR", str(tmp_path))
    budget = lm_config(monkeypatch, "forward", "budget")
    paper = lm_config(monkeypatch, "forward", "paper")
    assert (budget["data_loader"]["batch_size"], budget["trainer"]["optimizer"]["lr"]) == (
        512,
        0.003,
    )
    assert (paper["data_loader"]["batch_size"], paper["trainer"]["optimizer"]["lr"]) == (
        128,
        0.001,
    )
    for config in (budget, paper):
        loader = config["data_loader"]
        assert loader["batches_per_epoch"] * loader["batch_size"] == 256000
        assert "batches_per_epoch" not in config["validation_data_loader"]
        # Validation in batches of 128 sentences, as the fixed-time A/B measured its memory.
        assert config["validation_data_loader"]["batch_size"] == 128


def test_budget_size_exports_under_16_mib_in_half_precision(monkeypatch):
    config = lm_config(monkeypatch, "forward", "budget")
    vocab = Vocabulary()
    num_words = config["vocabulary"]["max_vocab_size"]["lm_targets"]
    vocab.add_tokens_to_namespace([f"w{i}" for i in range(num_words)], "lm_targets")
    model = Model.from_params(vocab=vocab, params=Params(config["model"]))
    encoder_parameters = sum(
        parameter.numel()
        for name, parameter in model.named_parameters()
        if not name.startswith(LanguageModel.SOFTMAX_PREFIX)
    )
    assert 4_000_000 < encoder_parameters < 15 * 2**20 / 2


def test_unknown_size_is_an_error_naming_lm_size(monkeypatch):
    with pytest.raises(RuntimeError, match="LM_SIZE must be one of .*not huge"):
        lm_config(monkeypatch, "forward", "huge")


def test_precision_picks_the_models_autocast_or_the_trainers_amp(monkeypatch):
    monkeypatch.setenv("LM_PRECISION", "bfloat16")
    config = lm_config(monkeypatch, "forward", "paper")
    assert config["model"]["mixed_precision"] == "bfloat16" and "use_amp" not in config["trainer"]
    monkeypatch.setenv("LM_PRECISION", "float16")
    config = lm_config(monkeypatch, "forward", "paper")
    assert config["trainer"]["use_amp"] and "mixed_precision" not in config["model"]
    monkeypatch.setenv("LM_PRECISION", "fp8")
    with pytest.raises(RuntimeError, match="LM_PRECISION must be one of .*not fp8"):
        lm_config(monkeypatch, "forward", "paper")


def test_lstm_precision_reaches_the_model_only_when_not_mixed(monkeypatch):
    monkeypatch.setenv("LM_PRECISION", "bfloat16")
    assert DEFAULTS["LM_LSTM_PRECISION"] == "float32"
    assert lm_config(monkeypatch, "forward", "paper")["model"]["lstm_precision"] == "float32"
    monkeypatch.setenv("LM_LSTM_PRECISION", "mixed")
    assert "lstm_precision" not in lm_config(monkeypatch, "forward", "paper")["model"]
    monkeypatch.setenv("LM_LSTM_PRECISION", "half")
    with pytest.raises(RuntimeError, match="LM_LSTM_PRECISION must be one of .*not half"):
        lm_config(monkeypatch, "forward", "paper")


def test_char_cnn_picks_the_encoder_and_is_checked(monkeypatch):
    def encoder_type():
        config = lm_config(monkeypatch, "forward", "paper")
        return config["model"]["text_field_embedder"]["token_embedders"]["elmo"]["encoder"]["type"]

    assert DEFAULTS["LM_CHAR_CNN"] == "fused"
    monkeypatch.setenv("LM_CHAR_CNN", DEFAULTS["LM_CHAR_CNN"])
    assert encoder_type() == "taglm_fused_cnn_highway"
    monkeypatch.setenv("LM_CHAR_CNN", "allennlp")
    assert encoder_type() == "cnn-highway"
    monkeypatch.setenv("LM_CHAR_CNN", "cudnn")
    with pytest.raises(RuntimeError, match="LM_CHAR_CNN must be one of allennlp, fused, not cudnn"):
        encoder_type()


def test_softmax_precision_is_the_models_and_checked(monkeypatch):
    assert lm_config(monkeypatch, "forward", "paper")["model"]["softmax_precision"] == "float32"
    monkeypatch.setenv("LM_SOFTMAX_PRECISION", "bfloat16")
    assert lm_config(monkeypatch, "forward", "paper")["model"]["softmax_precision"] == "bfloat16"
    monkeypatch.setenv("LM_SOFTMAX_PRECISION", "tf32")
    with pytest.raises(RuntimeError, match="LM_SOFTMAX_PRECISION must be one of .*not tf32"):
        lm_config(monkeypatch, "forward", "paper")


def test_token_cache_or_allennlps_loader(monkeypatch, tmp_path):
    monkeypatch.setenv("LM_CACHE_DIR", str(tmp_path))
    config = lm_config(monkeypatch, "forward", "paper")
    loader_types = {config[key]["type"] for key in ("data_loader", "validation_data_loader")}
    assert loader_types == {"taglm_lm_cache"}
    assert config["data_loader"]["cache_directory"] == str(tmp_path)
    assert config["data_loader"]["shuffle"] and not config["validation_data_loader"]["shuffle"]
    assert config["data_loader"]["pad_types_to_multiple"] == 256
    assert config["vocabulary"]["type"] == "taglm_lm_token_cache"
    assert config["vocabulary"]["dataset_reader"] == config["dataset_reader"]
    monkeypatch.setenv("LM_CACHE_DIR", "")
    config = lm_config(monkeypatch, "forward", "paper")
    loader_types = {config[key]["type"] for key in ("data_loader", "validation_data_loader")}
    assert loader_types == {"taglm_multiprocess"}
    assert config["data_loader"]["num_workers"] == 8
    assert config["data_loader"]["batches_per_epoch"] == 2000
    assert config["vocabulary"]["type"] == "from_instances"


@pytest.mark.parametrize("cache", [True, False])
def test_allennlp_train_small_forward_lm_within_a_time_budget(tmp_path, cache):
    serialization_dir = tmp_path / "lm"
    environment = dict(
        os.environ,
        LM_SIZE="small",
        LM_TRAIN_DATA=WIKI_ARCHIVE,
        # Any budget is used up by the first epoch, so training stops after it.
        LM_TIME_BUDGET_SECONDS="0.001",
        CUDA_DEVICE="-1",
        LM_CACHE_DIR=str(tmp_path / "cache") if cache else "",
    )
    overrides = {"dataset_reader.held_out_every": 3, "validation_dataset_reader.held_out_every": 3}
    command = [
        sys.executable, "-m", "allennlp", "train", str(LM_CONFIGS / "forward.jsonnet"),
        "-s", str(serialization_dir), "-o", json.dumps(overrides),
        "--include-package", "taglm_plugin",
    ]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (serialization_dir / "model.tar.gz").is_file()
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    assert metrics["epoch"] == 0  # of num_epochs = 2
    assert metrics["validation_perplexity"] > 1.0
    log = (serialization_dir / "out.log").read_text()
    assert "Stopping after epoch 0" in log
    assert "Training tokens seen: " in log
    assert ("Token cache of" in log) == cache
