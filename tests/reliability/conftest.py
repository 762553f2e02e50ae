from pathlib import Path

import pytest
import torch
from allennlp.common import Params
from allennlp.data import DatasetReader, Vocabulary
from allennlp.models import Model

import taglm_plugin  # noqa: F401  (registers the components, sets the extraction filter)
from tests.conftest import FIXTURES

TINY_TAGGER_CONFIG = FIXTURES / "reliability" / "tiny_tagger.jsonnet"
TINY_TAGGER_TRAIN = FIXTURES / "reliability" / "train.txt"


@pytest.fixture(scope="session")
def tiny_tagger_dir(tmp_path_factory) -> Path:
    """
    The files of a model archive of the tiny tagger (`config.json`, `vocabulary/`,
    `weights.th`), untrained: loading and predicting do not need a trained model.
    """
    directory = tmp_path_factory.mktemp("tiny_tagger")
    params = Params.from_file(str(TINY_TAGGER_CONFIG))
    reader = DatasetReader.from_params(params["dataset_reader"].duplicate())
    vocab = Vocabulary.from_instances(reader.read(str(TINY_TAGGER_TRAIN)))
    model = Model.from_params(vocab=vocab, params=params["model"].duplicate())
    params.to_file(str(directory / "config.json"))
    vocab.save_to_files(str(directory / "vocabulary"))
    torch.save(model.state_dict(), directory / "weights.th")
    return directory


@pytest.fixture
def one_torch_thread():
    """
    Runs a test on one torch thread. A single long sequence makes every LSTM step a tiny
    matrix product; on a busy machine, OpenMP threads synchronizing at each of them make a
    1,500-step LSTM tens of times slower than one thread.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
