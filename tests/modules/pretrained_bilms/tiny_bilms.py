"""Tiny pretrained biLMs with random weights, written into a test's tmp_path."""
import json
from pathlib import Path
from typing import Any, Dict, Tuple

import h5py
import numpy

from taglm_plugin.modules.pretrained_bilms.elmo_file_bilm import elmo_weight_layout

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
