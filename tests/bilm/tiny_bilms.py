"""Tiny pretrained biLMs with random weights, written into a test's tmp_path."""
import copy
import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import h5py
import numpy
import torch
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.models.archival import archive_model

from taglm_plugin.bilm.elmo_file_bilm import elmo_weight_layout

TINY_ELMO_OPTIONS: Dict[str, Any] = {
    "lstm": {
        "cell_clip": 3,
        "use_skip_connections": True,
        "n_layers": 2,
        "proj_clip": 3,
        "projection_dim": 4,
        "dim": 8,
    },
    "char_cnn": {
        "embedding": {"dim": 3},
        "filters": [[1, 2], [2, 3]],
        "n_highway": 1,
        "n_characters": 262,
        "max_characters_per_token": 50,
        "activation": "relu",
    },
}


def write_tiny_elmo(
    directory: Path, seed: int = 0, options: Dict[str, Any] = None
) -> Tuple[str, str]:
    """Writes `options.json` and a `weights.hdf5` with random weights; returns both paths."""
    options = options or TINY_ELMO_OPTIONS
    directory.mkdir(parents=True, exist_ok=True)
    options_file = directory / "options.json"
    weight_file = directory / "weights.hdf5"
    options_file.write_text(json.dumps(options))
    random = numpy.random.RandomState(seed)
    with h5py.File(weight_file, "w") as weights:
        for name, shape in elmo_weight_layout(options).items():
            weights.create_dataset(name, data=random.normal(0.0, 0.5, shape).astype("float32"))
    return str(options_file), str(weight_file)


def tiny_language_model_config(
    direction: str,
    word_namespace: Optional[str] = None,
    num_layers: int = 2,
    softmax: Optional[str] = None,
) -> Dict[str, Any]:
    """
    The config of a tiny `taglm_language_model`: over `elmo_characters` ids (a character
    CNN) by default, over word ids of `word_namespace` if given. States: 6 dims for the token
    embedding, 5 for each LSTM layer. Without a softmax by default, as `export_lm` writes LMs.
    """
    if word_namespace is None:
        indexers = {"elmo": {"type": "elmo_characters"}}
        embedders = {
            "elmo": {
                "type": "character_encoding",
                "embedding": {"num_embeddings": 262, "embedding_dim": 4},
                "encoder": {
                    "type": "cnn",
                    "embedding_dim": 4,
                    "num_filters": 3,
                    "ngram_filter_sizes": [1, 2],
                },
            }
        }
    else:
        indexers = {"words": {"type": "single_id", "namespace": word_namespace}}
        embedders = {
            "words": {"type": "embedding", "embedding_dim": 6, "vocab_namespace": word_namespace}
        }
    return {
        "dataset_reader": {
            "type": "taglm_lm_text",
            "direction": direction,
            "token_indexers": indexers,
        },
        "model": {
            "type": "taglm_language_model",
            "direction": direction,
            "text_field_embedder": {"token_embedders": embedders},
            "encoder": {
                "input_size": 6,
                "hidden_size": 8,
                "projection_size": 5,
                "num_layers": num_layers,
                "dropout": 0.5,
                "residual_connections": True,
            },
            "dropout": 0.5,
            "softmax": softmax,
        },
    }


TINY_LM_VOCABULARY = {
    "lm_targets": {"the": 5, "cat": 4, "sat": 3, "</S>": 2},
    "lm_words": {"the": 5, "cat": 4, "sat": 3, "dogs": 2, "bark": 1},
}


def write_tiny_language_model(
    directory: Path, config: Dict[str, Any], seed: int = 0, vocab: Optional[Vocabulary] = None
) -> Tuple[str, Model]:
    """Writes the model archive of a randomly initialized LM; returns its path and the LM."""
    vocab = vocab or Vocabulary(TINY_LM_VOCABULARY)
    torch.manual_seed(seed)
    model = Model.from_params(vocab=vocab, params=Params(copy.deepcopy(config["model"])))
    directory.mkdir(parents=True, exist_ok=True)
    Params(copy.deepcopy(config)).to_file(str(directory / "config.json"))
    vocab.save_to_files(str(directory / "vocabulary"))
    torch.save(model.state_dict(), directory / "weights.th")
    return archive_model(directory, weights="weights.th"), model
