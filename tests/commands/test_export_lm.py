import os

import pytest
import torch
from allennlp.common import Params
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.models.archival import archive_model, load_archive

from taglm_plugin.commands.export_lm import main
from taglm_plugin.lm.encoder_export import export_encoder_archive
from taglm_plugin.lm.language_model import LanguageModel
from tests.conftest import FIXTURES, REPO_ROOT

WIKI_ARCHIVE = str(FIXTURES / "lm" / "enwiki_sample.tar.gz")


def write_lm_archive(directory, softmax_precision: str = "float32") -> str:
    """A small backward LM archive as `allennlp train` writes it (untrained weights)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("LM_SIZE", "small")
        monkeypatch.setenv("LM_TIME_BUDGET_SECONDS", "0")
        monkeypatch.setenv("LM_TRAIN_DATA", WIKI_ARCHIVE)
        monkeypatch.setenv("LM_SOFTMAX_PRECISION", softmax_precision)
        params = Params.from_file(str(REPO_ROOT / "training_configs" / "lm" / "backward.jsonnet"))
    reader = DatasetReader.from_params(params["dataset_reader"].duplicate())
    vocab = Vocabulary.from_instances(reader.read(WIKI_ARCHIVE))
    model = Model.from_params(vocab=vocab, params=params["model"].duplicate())
    params.to_file(str(directory / "config.json"))
    vocab.save_to_files(str(directory / "vocabulary"))
    torch.save(model.state_dict(), directory / "best.th")
    return archive_model(directory, weights="best.th")


@pytest.fixture(scope="module")
def lm_archive(tmp_path_factory) -> str:
    return write_lm_archive(tmp_path_factory.mktemp("backward_lm"))


def test_encoder_archive_of_an_lm_trained_with_a_bfloat16_softmax_loads(tmp_path):
    """softmax_precision needs a softmax: the encoder's config leaves it out."""
    archive = write_lm_archive(tmp_path, softmax_precision="bfloat16")
    output = str(tmp_path / "encoder.tar.gz")
    export_encoder_archive(archive, output)
    assert "softmax_precision" not in load_archive(output).config["model"]


def states(archive, sentence):
    reader, model = archive.dataset_reader, archive.model.eval()
    instance = reader.text_to_instance(sentence)
    reader.apply_token_indexers(instance)
    batch = Batch([instance])
    batch.index_instances(model.vocab)
    with torch.no_grad():
        return model.contextual_states(batch.as_tensor_dict()["tokens"])


@pytest.mark.parametrize("half, tolerance", [(False, 0.0), (True, 2e-3)])
def test_encoder_archive_gives_the_same_states_without_the_softmax(
    lm_archive, tmp_path, half, tolerance
):
    output = str(tmp_path / "encoder.tar.gz")
    size = export_encoder_archive(lm_archive, output, half=half)
    assert size == os.path.getsize(output) < os.path.getsize(lm_archive)
    original, exported = load_archive(lm_archive), load_archive(output)
    model = exported.model
    assert isinstance(model, LanguageModel) and model.direction == "backward"
    assert exported.config["model"]["softmax"] is None
    assert "num_samples" not in exported.config["model"]
    assert not any(name.startswith(LanguageModel.SOFTMAX_PREFIX) for name in model.state_dict())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    sentence = ["Walkers", "reach", "the", "lake", "."]
    for expected, got in zip(states(original, sentence), states(exported, sentence)):
        assert torch.allclose(expected, got, atol=tolerance, rtol=0)


def test_command_line_and_size_limit(lm_archive, tmp_path, capsys):
    output = tmp_path / "encoder.tar.gz"
    main([lm_archive, str(output), "--half"])
    assert f"{output}: {output.stat().st_size} bytes" in capsys.readouterr().out
    with pytest.raises(ValueError, match="more than --max-mib 0.001"):
        main([lm_archive, str(tmp_path / "too_big.tar.gz"), "--max-mib", "0.001"])
    assert not (tmp_path / "too_big.tar.gz").exists()
