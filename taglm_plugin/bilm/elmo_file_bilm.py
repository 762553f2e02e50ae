import json
import os
import tempfile
import warnings
from typing import Any, Dict, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.data.token_indexers.elmo_indexer import ELMoCharacterMapper
from allennlp.modules.elmo import _ElmoBiLm
from allennlp.nn.util import remove_sentence_boundaries

from taglm_plugin.bilm.pretrained_bilm import PretrainedBiLm

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=FutureWarning)
    import h5py

ELMO_CHARACTER_IDS = 262
"""Character ids of `elmo_characters`: 256 bytes and 5 markers (shifted by 1), 0 for padding."""

_REQUIRED_OPTIONS = {
    "lstm": ("dim", "projection_dim", "n_layers", "cell_clip", "proj_clip", "use_skip_connections"),
    "char_cnn": (
        "embedding",
        "filters",
        "n_highway",
        "n_characters",
        "max_characters_per_token",
        "activation",
    ),
}


def check_elmo_options(options: Dict[str, Any], options_file: str) -> None:
    """
    Raises a `ConfigurationError` naming `options_file` when the options lack a key allennlp's
    `_ElmoBiLm` reads, describe something it cannot run (no skip connections, an unknown
    activation), or a character set other than the one the `elmo_characters` indexer produces.
    """
    for section, keys in _REQUIRED_OPTIONS.items():
        for key in keys:
            if key not in options.get(section, {}):
                raise ConfigurationError(f"{options_file}: missing option {section}.{key}")
    if "dim" not in options["char_cnn"]["embedding"]:
        raise ConfigurationError(f"{options_file}: missing option char_cnn.embedding.dim")
    if not options["lstm"]["use_skip_connections"]:
        raise ConfigurationError(
            f"{options_file}: lstm.use_skip_connections is false; allennlp's ELMo biLM "
            "(which frozen_bilm runs) only supports biLMs with skip connections"
        )
    if options["char_cnn"]["activation"] not in ("relu", "tanh"):
        raise ConfigurationError(
            f"{options_file}: char_cnn.activation must be 'relu' or 'tanh', "
            f"not {options['char_cnn']['activation']!r}"
        )
    characters = options["char_cnn"]["n_characters"]
    max_characters = options["char_cnn"]["max_characters_per_token"]
    if characters != ELMO_CHARACTER_IDS or max_characters != ELMoCharacterMapper.max_word_length:
        raise ConfigurationError(
            f"{options_file}: char_cnn.n_characters = {characters} and "
            f"char_cnn.max_characters_per_token = {max_characters}, but the elmo_characters "
            f"token indexer produces {ELMO_CHARACTER_IDS} character ids and "
            f"{ELMoCharacterMapper.max_word_length} characters per token"
        )


def elmo_weight_layout(options: Dict[str, Any]) -> Dict[str, Tuple[int, ...]]:
    """
    The datasets (path and shape) of the weight file bilm-tf writes for a biLM with these
    options, as allennlp's `_ElmoCharacterEncoder` and `ElmoLstm.load_weights` read them.
    """
    cnn = options["char_cnn"]
    lstm = options["lstm"]
    char_dim = cnn["embedding"]["dim"]
    num_filters = sum(num for _, num in cnn["filters"])
    projection_dim = lstm["projection_dim"]
    cell_dim = lstm["dim"]
    # Row 0 of the character embedding (padding) is not stored.
    layout: Dict[str, Tuple[int, ...]] = {"char_embed": (cnn["n_characters"] - 1, char_dim)}
    for i, (width, num) in enumerate(cnn["filters"]):
        layout[f"CNN/W_cnn_{i}"] = (1, width, char_dim, num)
        layout[f"CNN/b_cnn_{i}"] = (num,)
    for k in range(cnn["n_highway"]):
        for gate in ("carry", "transform"):
            layout[f"CNN_high_{k}/W_{gate}"] = (num_filters, num_filters)
            layout[f"CNN_high_{k}/b_{gate}"] = (num_filters,)
    layout["CNN_proj/W_proj"] = (num_filters, projection_dim)
    layout["CNN_proj/b_proj"] = (projection_dim,)
    for direction in range(2):
        for cell in range(lstm["n_layers"]):
            prefix = f"RNN_{direction}/RNN/MultiRNNCell/Cell{cell}/LSTMCell"
            # Input and recurrent weights are packed together; every layer's input and
            # recurrent state have projection_dim dimensions.
            layout[f"{prefix}/W_0"] = (2 * projection_dim, 4 * cell_dim)
            layout[f"{prefix}/B"] = (4 * cell_dim,)
            layout[f"{prefix}/W_P_0"] = (cell_dim, projection_dim)
    return layout


def check_elmo_weight_file(options: Dict[str, Any], weight_file: str, options_file: str) -> None:
    """Raises a `ConfigurationError` naming both files for each missing or misshapen dataset."""
    problems = []
    with h5py.File(cached_path(weight_file), "r") as weights:
        for name, shape in elmo_weight_layout(options).items():
            if name not in weights or not isinstance(weights[name], h5py.Dataset):
                problems.append(f"{name} is missing")
            elif weights[name].shape != shape:
                problems.append(f"{name} has shape {weights[name].shape}, expected {shape}")
    if problems:
        raise ConfigurationError(
            f"{weight_file} does not match {options_file}: " + "; ".join(problems)
        )


class ElmoFileBiLm(PretrainedBiLm):
    """
    A biLM in the ELMo file format (bilm-tf's `options.json` and `weights.hdf5`, as allennlp
    reads them), run by allennlp's `_ElmoBiLm` with its exact semantics: character-CNN token
    embedding, `<S>`/`</S>` added around every sentence (and removed again here), and
    stateful LSTMs whose states carry over from one batch to the next, as ELMo's were when
    its reference outputs were computed (`reset_states()` starts afresh).

    Layer 0 is the character-CNN embedding (the same vector for both directions), layer
    `i >= 1` the `i`-th LSTM layer; every layer has `lstm.projection_dim` dimensions per
    direction. Input: `{"elmo_tokens": (batch_size, num_tokens, 50)}` from the
    `elmo_characters` token indexer.

    `weight_file = None` gives zero weights (for `from_spec`); allennlp's `_ElmoBiLm` can only
    be built from files, so the options and, in that case, an HDF5 file with the datasets
    declared but never written (HDF5 allocates them lazily, so it is a few KB) go to a
    temporary directory for the duration of the construction.
    """

    format_name = "elmo"
    supports_token_encoder_dtype = False
    stateful = True

    def __init__(self, options: Dict[str, Any], weight_file: Optional[str] = None) -> None:
        super().__init__()
        self.options = options
        with tempfile.TemporaryDirectory() as directory:
            options_file = os.path.join(directory, "options.json")
            with open(options_file, "w") as options_out:
                json.dump(options, options_out)
            if weight_file is None:
                weight_file = os.path.join(directory, "weights.hdf5")
                with h5py.File(weight_file, "w") as weights:
                    for name, shape in elmo_weight_layout(options).items():
                        weights.create_dataset(name, shape=shape, dtype="float32")
            self.elmo_bilm = _ElmoBiLm(options_file, weight_file, requires_grad=False)
        self.num_layers = self.elmo_bilm.num_layers

    @classmethod
    def from_files(cls, options_file: str, weight_file: str) -> "ElmoFileBiLm":
        """Reads and checks the options, checks the weight file's datasets against them."""
        with open(cached_path(options_file)) as options_in:
            try:
                options = json.load(options_in)
            except json.JSONDecodeError as error:
                raise ConfigurationError(f"{options_file} is not JSON: {error}") from error
        check_elmo_options(options, options_file)
        check_elmo_weight_file(options, weight_file, options_file)
        return cls(options, weight_file)

    def spec(self) -> Dict[str, Any]:
        return {"format": self.format_name, "options": self.options}

    @classmethod
    def from_spec(cls, spec: Dict[str, Any]) -> "ElmoFileBiLm":
        return cls(spec["options"])

    def layer_dims(self, layer: int) -> Dict[str, int]:
        dim = self.options["lstm"]["projection_dim"]
        return {"forward": dim, "backward": dim}

    def token_indexer_params(self) -> Dict[str, Any]:
        return {"type": "elmo_characters"}

    def vocabulary_namespaces(self) -> Dict[str, Dict[int, str]]:
        return {}

    def reset_states(self) -> None:
        """Forgets the LSTM states carried over from previous batches."""
        self.elmo_bilm._elmo_lstm.reset_states()

    def forward(  # type: ignore
        self,
        lm_tensors: Dict[str, torch.Tensor],
        layer: int,
        token_encoder_dtype: Optional[torch.dtype] = None,
    ) -> Dict[str, torch.Tensor]:
        if token_encoder_dtype is not None:
            raise ConfigurationError(
                "an ELMo-format biLM runs allennlp's _ElmoBiLm in float32 only; "
                "leave precision at float32"
            )
        if set(lm_tensors) != {"elmo_tokens"}:
            raise ConfigurationError(
                "an ELMo-format biLM reads the output of the elmo_characters token indexer "
                f"('elmo_tokens'), but got {sorted(lm_tensors)}"
            )
        bilm_output = self.elmo_bilm(lm_tensors["elmo_tokens"])
        # (batch_size, num_tokens, 2 * projection_dim), zero at padding.
        activations, _ = remove_sentence_boundaries(
            bilm_output["activations"][layer], bilm_output["mask"]
        )
        forward_states, backward_states = activations.chunk(2, dim=-1)
        return {"forward": forward_states, "backward": backward_states}
