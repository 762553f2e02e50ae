"""
Every config in training_configs/ trains for one batch on tiny fixtures (CPU), so that no config
can rot: the tagger configs (ner/, chunking/, demo/ and any folder added later) on the
CoNLL-like files of tests/fixtures/tagger with a tiny GloVe file, and the LM configs (lm/) at
LM_SIZE=small on a few lines of text. The LM archives they write are the FORWARD_LM /
BACKWARD_LM of the TagLM configs, so the two sets of configs are also checked against each
other (LM token indexer, LM_STATE_DIM).
"""
import json
import shutil
from pathlib import Path
from typing import Dict

import pytest
import torch
from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.predictors import Predictor

# Importing the plugin registers its components and sets the configs' environment defaults.
from taglm_plugin.common.safe_loading import load_archive
from taglm_plugin.lm.encoder_export import export_encoder_archive
from taglm_plugin.lm.language_model import LanguageModel
from taglm_plugin.study.plan import config_fields
from taglm_plugin.tagging.taglm_tagger import TagLmTagger
from tests.conftest import FIXTURES, REPO_ROOT

CONFIG_ROOT = REPO_ROOT / "training_configs"
# The variants of configs that scripts/gpu_study gives `allennlp taglm-study --variants`:
# `(file, task, config, variant, overrides)`.
GPU_STUDY_VARIANTS = [
    (path.name, task, config, name, overrides)
    for path in sorted((REPO_ROOT / "scripts" / "gpu_study").glob("*variants*.json"))
    for task, by_config in json.loads(path.read_text()).items()
    for config, by_name in by_config.items()
    for name, overrides in by_name.items()
]
LM_CONFIGS = sorted((CONFIG_ROOT / "lm").glob("*.jsonnet"))
TAGGER_CONFIGS = sorted(
    path for path in CONFIG_ROOT.glob("*/*.jsonnet") if path.parent.name != "lm"
)
TAGGER_FIXTURES = FIXTURES / "tagger"
ENVIRONMENT = {
    "CONLL2003_DIR": str(TAGGER_FIXTURES / "conll2003"),
    "CONLL2000_DIR": str(TAGGER_FIXTURES / "conll2000"),
    "GLOVE": str(TAGGER_FIXTURES / "glove.50d.txt"),
    "LM_TRAIN_DATA": str(TAGGER_FIXTURES / "lm_text.txt"),
    "LM_SIZE": "small",
    "LM_TIME_BUDGET_SECONDS": "0",
    "CUDA_DEVICE": "-1",
    "NUM_EPOCHS": "1",
}
# One epoch of one batch. The held-out parts of the training data (CoNLL-2000's 1000 sentences,
# every 100th LM document) shrink to the size of the fixtures.
ONE_BATCH = {"trainer.num_epochs": 1, "data_loader.batches_per_epoch": 1}
HELD_OUT = {
    "chunking": {
        "dataset_reader.held_out_sentences": 2,
        "validation_dataset_reader.held_out_sentences": 2,
    },
    "lm": {"dataset_reader.held_out_every": 4, "validation_dataset_reader.held_out_every": 4},
}


def config_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def one_batch_params(config: Path, overrides: Dict = None, task: str = None) -> Params:
    """`config` with `overrides`, trained on one batch (`task`: the config's directory's)."""
    task = task or config.parent.name
    overrides = {**(overrides or {}), **ONE_BATCH, **HELD_OUT.get(task, {})}
    return Params.from_file(str(config), params_overrides=json.dumps(overrides))


def train_one_batch(
    config: Path, serialization_dir: Path, overrides: Dict = None, task: str = None
) -> Path:
    train_model(one_batch_params(config, overrides, task), str(serialization_dir))
    archive = serialization_dir / "model.tar.gz"
    assert archive.is_file()
    return archive


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> None:
    # Two intra-op threads spin against each other on a busy 2-core machine: a biLSTM step of
    # these sizes then takes 100 times longer than on one thread.
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(num_threads)


@pytest.fixture(scope="module")
def environment() -> None:
    # Module-scoped: the LM archives below are trained once for all the tagger configs.
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in ENVIRONMENT.items():
            monkeypatch.setenv(name, value)
        # The demo config reads examples/ relative to the repository root.
        monkeypatch.chdir(REPO_ROOT)
        yield


@pytest.fixture(scope="module")
def lm_archives(environment, tmp_path_factory) -> Dict[Path, Path]:
    """Each LM config trained for one batch: `{config: model archive}`."""
    return {
        config: train_one_batch(config, tmp_path_factory.mktemp(config.stem))
        for config in LM_CONFIGS
    }


@pytest.fixture(scope="module")
def language_models(lm_archives) -> Dict[str, LanguageModel]:
    """
    The trained LMs by direction. FORWARD_LM and BACKWARD_LM point at their encoder-only
    exports (as on the GPU host; the taggers would otherwise export them on every load) and
    LM_STATE_DIM is the size of their states.
    """
    models = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for archive_file in lm_archives.values():
            model = load_archive(str(archive_file)).model
            assert model.direction not in models, "one LM config per direction"
            models[model.direction] = model
            encoder_archive = archive_file.parent / "encoder.tar.gz"
            export_encoder_archive(str(archive_file), str(encoder_archive))
            monkeypatch.setenv(f"{model.direction.upper()}_LM", str(encoder_archive))
        state_dims = {model.get_output_dim() for model in models.values()}
        assert len(state_dims) == 1, state_dims
        monkeypatch.setenv("LM_STATE_DIM", str(state_dims.pop()))
        yield models


def test_every_config_folder_is_covered():
    folders = {path.parent.name for path in TAGGER_CONFIGS + LM_CONFIGS}
    assert folders >= {"ner", "chunking", "demo", "lm"}


@pytest.mark.parametrize("config", LM_CONFIGS, ids=config_id)
def test_lm_config_trains_one_batch(lm_archives, config):
    archive = load_archive(str(lm_archives[config]))
    assert isinstance(archive.model, LanguageModel)
    assert archive.model.direction == Params.from_file(str(config))["model"]["direction"]
    metrics = json.loads((lm_archives[config].parent / "metrics.json").read_text())
    assert metrics["validation_perplexity"] > 1.0


@pytest.mark.parametrize("config", TAGGER_CONFIGS, ids=config_id)
def test_tagger_config_trains_one_batch(language_models, config, tmp_path):
    archive = load_archive(str(train_one_batch(config, tmp_path)))
    model = archive.model
    assert isinstance(model, TagLmTagger)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= metrics["validation_f1-measure-overall"] <= 1.0
    if config.parent.name == "chunking":
        # Only the training file is split; `allennlp evaluate` (the validation reader) reads a
        # test file whole.
        train_file = TAGGER_FIXTURES / "conll2000" / "train.txt"
        test_file = tmp_path / "test.txt"
        shutil.copy(train_file, test_file)

        def count(reader, path) -> int:
            return sum(1 for _ in reader.read(str(path)))

        held_out = count(archive.validation_dataset_reader, train_file)
        assert held_out == 2
        whole = held_out + count(archive.dataset_reader, train_file)
        assert count(archive.validation_dataset_reader, test_file) == whole
        assert count(archive.dataset_reader, test_file) == whole
    # Its checkpoint leaves out the frozen tensors read from files (the pretrained word table,
    # the LMs), which the archive holds (taglm_plugin.training.reloaded_state).
    checkpoint = torch.load(tmp_path / "model_state_e1_b0.th", weights_only=True)
    left_out = set(model.state_dict()) - set(checkpoint)
    assert "text_field_embedder.token_embedder_tokens.pretrained" in left_out
    assert all(
        key.startswith("lm_embedder.bilm.") for key in left_out - {
            "text_field_embedder.token_embedder_tokens.pretrained"
        }
    )
    assert any(key.startswith("lm_embedder.bilm.") for key in left_out) == (
        model.lm_embedder is not None
    )
    if model.lm_embedder is not None:
        # The tagger holds the pretrained LMs' weights, unchanged by its training.
        bilm = model.lm_embedder.bilm
        assert bilm.language_models
        for direction, language_model in bilm.language_models.items():
            pretrained = language_models[direction].state_dict()
            for name, tensor in language_model.state_dict().items():
                assert torch.equal(tensor, pretrained[name]), f"{direction} LM's {name}"


@pytest.mark.parametrize(
    "file, task, config, name, overrides",
    GPU_STUDY_VARIANTS,
    ids=[f"{file}:{task}/{config}:{name}" for file, task, config, name, _ in GPU_STUDY_VARIANTS],
)
def test_gpu_study_variant_trains_one_batch(
    language_models, file, task, config, name, overrides, tmp_path
):
    path = CONFIG_ROOT / task / f"{config}.jsonnet"
    # As the study trains it: hidden fields (`NAME::`) set in a config written beside.
    run_config, run_overrides = config_fields(path, overrides, tmp_path / "variant.jsonnet", "-")
    train_one_batch(run_config, tmp_path / "run", run_overrides, task)
    trained = load_archive(str(tmp_path / "run" / "model.tar.gz")).config.as_flat_dict()
    assert trained.items() >= {
        key: value for key, value in run_overrides.items() if not isinstance(value, dict)
    }.items()
    assert trained != one_batch_params(path).as_flat_dict()  # the variant changes the config


@pytest.mark.parametrize("task", ["ner", "chunking"])
def test_casing_dim_adds_a_casing_embedding(environment, task, tmp_path):
    config = tmp_path / "casing.jsonnet"
    config.write_text(f"(import '{CONFIG_ROOT / task / 'baseline.jsonnet'}') {{ casing_dim:: 6 }}")
    archive = train_one_batch(config, tmp_path / "run", HELD_OUT.get(task))
    model = load_archive(str(archive)).model
    embedders = model.text_field_embedder._token_embedders
    assert embedders["casing"].get_output_dim() == 6
    assert model.vocab.get_vocab_size("casing") > 2
    assert model.encoder.get_input_dim() == sum(e.get_output_dim() for e in embedders.values())
    predictor = Predictor.from_archive(load_archive(str(archive)), "taglm_tagger")
    output = predictor.predict_json({"sentence": "EU rejects German call in 1996 ."})
    assert len(output["tags"]) == 7
