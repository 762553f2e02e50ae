"""
Writes the encoder-only archive of a trained `taglm_language_model`: what a user of the LM's
states (`contextual_states`, e.g. the `frozen_bilm` token embedder) needs, without the softmax,
which is most of a trained LM (a 50k-word softmax over 512-dim states is 25.6M parameters).

`export_encoder_archive` writes it; `python -m taglm_plugin.commands.export_lm` is its command.

The input is read with `taglm_plugin.common.safe_loading.load_archive`. The output is an
ordinary allennlp model archive (`load_archive` reads it):

* `config.json`: the training config with `model.softmax = null` (and no `num_samples`,
  `adaptive_cutoffs` or `softmax_precision`), so the model is built without an output layer;
  everything else (dataset reader with its token indexers, `model.direction`, encoder sizes)
  is kept;
* `vocabulary/`: the trained model's vocabulary;
* `weights.th`: the state dict without the `_softmax_loss.*` entries; with `half` (`--half`) its
  floating-point tensors are float16 (`load_state_dict` copies them into the model's float32
  parameters, so loading needs nothing special; the states then differ from the float32
  model's by float16 rounding).
"""
import copy
import logging
import os
import tempfile
from typing import Any, Dict, Optional

import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import archive_model

from taglm_plugin.common.safe_loading import load_archive
from taglm_plugin.lm.language_model import LanguageModel

logger = logging.getLogger(__name__)

_WEIGHTS = "weights.th"


def encoder_config(config: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of the training `config` of a `taglm_language_model` whose model has no softmax:
    `model.softmax = null`, no `num_samples`, `adaptive_cutoffs` or `softmax_precision`."""
    config = copy.deepcopy(config)
    for key in ("num_samples", "adaptive_cutoffs", "softmax_precision"):
        config["model"].pop(key, None)
    config["model"]["softmax"] = None
    return config


def encoder_state_dict(model: LanguageModel) -> Dict[str, torch.Tensor]:
    """`model`'s state dict without the softmax's entries (`LanguageModel.SOFTMAX_PREFIX`)."""
    return {
        name: tensor
        for name, tensor in model.state_dict().items()
        if not name.startswith(LanguageModel.SOFTMAX_PREFIX)
    }


def export_encoder_archive(
    archive_path: str, output_path: str, half: bool = False, max_mib: Optional[float] = None
) -> int:
    """Writes the encoder-only archive of the LM in `archive_path`; returns its size in bytes."""
    archive = load_archive(archive_path)
    model = archive.model
    if not isinstance(model, LanguageModel):
        raise ConfigurationError(
            f"{archive_path} holds a {type(model).__name__}, not a taglm_language_model"
        )
    config = encoder_config(archive.config.as_dict(quiet=True))
    state = encoder_state_dict(model)
    if half:
        state = {
            name: tensor.half() if tensor.is_floating_point() else tensor
            for name, tensor in state.items()
        }
    with tempfile.TemporaryDirectory() as directory:
        Params(config).to_file(os.path.join(directory, "config.json"))
        model.vocab.save_to_files(os.path.join(directory, "vocabulary"))
        torch.save(state, os.path.join(directory, _WEIGHTS))
        archive_model(directory, weights=_WEIGHTS, archive_path=output_path)
    size = os.path.getsize(output_path)
    logger.info("Wrote %s (%.1f MiB)", output_path, size / 2**20)
    if max_mib is not None and size > max_mib * 2**20:
        os.remove(output_path)
        raise ValueError(
            f"{output_path} would be {size / 2**20:.1f} MiB, more than --max-mib {max_mib}"
            + ("" if half else "; --half stores the weights in half the space")
        )
    return size
