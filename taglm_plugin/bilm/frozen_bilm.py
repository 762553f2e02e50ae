import json
import logging
from typing import Any, Dict, List, Optional, Type

import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import TokenIndexer, Vocabulary
from allennlp.modules.token_embedders.token_embedder import TokenEmbedder
from allennlp.nn.util import get_text_field_mask

from taglm_plugin.bilm.elmo_file_bilm import ElmoFileBiLm
from taglm_plugin.bilm.language_model_bilm import LanguageModelBiLm
from taglm_plugin.bilm.pretrained_bilm import PretrainedBiLm
from taglm_plugin.bilm.state_cache import LmStateCache
from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.common.fingerprints import state_dict_fingerprint
from taglm_plugin.lm.conventions import DIRECTIONS
from taglm_plugin.lm.language_model import MIXED_PRECISION_DTYPES
from taglm_plugin.training.reloaded_state import fill_reloaded_state

logger = logging.getLogger(__name__)

# The LM directions of each value of `directions`.
DIRECTION_CHOICES = {"both": DIRECTIONS, **{direction: (direction,) for direction in DIRECTIONS}}

_BILM_FORMATS: Dict[str, Type[PretrainedBiLm]] = {
    ElmoFileBiLm.format_name: ElmoFileBiLm,
    LanguageModelBiLm.format_name: LanguageModelBiLm,
}


def read_pretrained_bilm(pretrained_file: Dict[str, str], directions: str) -> PretrainedBiLm:
    """
    Loads the biLM `pretrained_file` names: `{"options_file": ..., "weight_file": ...}` for the
    ELMo format, or `{"forward_archive": ..., "backward_archive": ...}` for the model archives
    of two `taglm_language_model`s (only those `directions` uses are needed and loaded).
    """
    keys = set(pretrained_file)
    if keys == {"options_file", "weight_file"}:
        return ElmoFileBiLm.from_files(
            pretrained_file["options_file"], pretrained_file["weight_file"]
        )
    directions_read = DIRECTION_CHOICES[directions]
    archive_keys = {direction: f"{direction}_archive" for direction in directions_read}
    if keys and keys <= {"forward_archive", "backward_archive"}:
        missing = [key for key in archive_keys.values() if key not in keys]
        if missing:
            raise ConfigurationError(
                f"directions = {directions!r} needs pretrained_file.{missing[0]}"
            )
        for unused in sorted(keys - set(archive_keys.values())):
            logger.info("directions = %r: not loading pretrained_file.%s", directions, unused)
        return LanguageModelBiLm.from_archives(
            {direction: pretrained_file[key] for direction, key in archive_keys.items()}
        )
    raise ConfigurationError(
        "pretrained_file must be {'options_file': ..., 'weight_file': ...} (ELMo format) or "
        "{'forward_archive': ..., 'backward_archive': ...} (taglm_language_model archives), "
        f"not one with the keys {sorted(keys)}"
    )


@TokenEmbedder.register("frozen_bilm")
class FrozenBiLmEmbedder(ChecksConfigKeys, TokenEmbedder):
    """
    TagLM's LM embedding (Peters et al., 2017): for every token the hidden states of a pretrained,
    frozen bidirectional language model, `[h_forward; h_backward]` of one layer (by default the
    top one), or only one direction's.

    Registered as a `TokenEmbedder` with name "frozen_bilm". Config:

    ```
    "lm_embedder": {
        "type": "frozen_bilm",
        "pretrained_file": {"forward_archive": "lm/forward/model.tar.gz",
                            "backward_archive": "lm/backward/model.tar.gz"},
        // or, for an ELMo-format biLM (bilm-tf / allennlp files):
        // "pretrained_file": {"options_file": "elmo/options.json",
        //                     "weight_file": "elmo/weights.hdf5"},
        "expected_dim": 1024,
        "layer": -1,            // 0 = token embedding, 1.. = LSTM layers, negative from the top
        "directions": "both",   // or "forward" / "backward"
        "cache": {"max_memory_mib": 4096, "directory": null},  // optional, LM archives only
        "precision": "float32"  // or "bfloat16" / "float16": the token encoders' (LM archives)
    }
    ```

    The LM reads its own tokens, so the dataset reader must index them with the LM's token
    indexer, under its own key (the tagger's `lm_tokens_key`, `"lm"` by default): for the ELMo
    format `"lm": {"type": "elmo_characters"}`; for LM archives the indexer of the LM's own
    reader, which `token_indexer_params()` returns (and `token_indexer()` builds). `forward`
    takes that indexer's tensors by name, e.g. `elmo_tokens=(batch_size, num_tokens, 50)`, and
    returns `(batch_size, num_tokens, expected_dim)`, zero at padding.

    The backward LM of a pair of `taglm_language_model`s was trained on reversed sentences: it
    reads each sentence reversed (only its real tokens; padding stays at the end) and its states
    are reversed back, so that position `t` of the output belongs to token `t`. The archives
    may be full LM archives or `export_lm`'s encoder-only ones; a softmax is left out either
    way. An ELMo-format biLM runs allennlp's `_ElmoBiLm` as is: `<S>`/`</S>` added and removed,
    LSTM states carried over from batch to batch, as in allennlp's own ELMo embedder.

    The LM is frozen: its parameters never require gradients, it stays in eval mode (no
    dropout) whatever `train()` is called with, and it runs under `torch.no_grad()`. Keep the
    tagger's `initializer` regexes off its parameters (they are under this module's name).

    With `cache`, each sentence's states are computed once and then read from an
    `LmStateCache` (`state_cache.py`: in the memory of the LM's device, the GPU in training, up
    to `max_memory_mib`, and in an LMDB store in `directory` if given, which later runs reuse):
    per batch the LM runs on the sentences not found, as one sub-batch, and the output is
    assembled on the device. Cached states equal computed ones (up to float32 rounding of the
    different batch shapes), because an LM archive pair's states of a sentence depend on that
    sentence alone. An ELMo-format biLM's do not (LSTM states carried over from batch to
    batch), so `cache` is refused for it. The cache is keyed by the LM input ids and tied to
    the LM's fingerprint (its state dict: weights and `bilm_spec`, and `layer`, `directions`);
    it is not part of the state dict, so an archive of a model trained with it stands alone
    (loaded, it caches as configured, creating the store if `directory` is not at hand).

    A model archive holding this embedder stands alone: the LM weights are in the state dict,
    and so is everything needed to rebuild the LM modules (options / LM config, LM vocabulary,
    token indexer; `spec` in `PretrainedBiLm`), as a JSON byte buffer `bilm_spec`. allennlp drops
    every `pretrained_file` key from the config when it loads an archive; this embedder is then
    built without its LM, reports `expected_dim` (which is why that key is required) and
    rebuilds the LM from `bilm_spec` in `_load_from_state_dict`, just before the weights are
    copied in.

    # Parameters

    expected_dim : `int`
        The output dimension; a `ConfigurationError` if the LM layer and `directions` give
        another.
    pretrained_file : `Dict[str, str]`, optional
        The LM files, see above. Only left out when the weights come from a state dict.
    layer : `int`, optional (default = `-1`)
        Which layer's states.
    directions : `str`, optional (default = `"both"`)
        `"both"` (forward then backward states), `"forward"` or `"backward"`.
    vocab : `Vocabulary`, optional
        The tagger's vocabulary (passed by allennlp), checked against the LM's vocabulary when
        the LM indexes words by vocabulary id.
    cache : `Dict[str, Any]`, optional (default = `None`, no cache)
        `{"max_memory_mib": ..., "directory": ...}`, the arguments of `LmStateCache`
        (`max_memory_mib`: MiB of the LM's device's memory; `directory` optional).
    precision : `str`, optional (default = `"float32"`)
        `"float32"`, or `"bfloat16"` / `"float16"`: the LMs' token encoders (character CNN,
        highway layers, projection: about 60% of a `paper`-size LM's arithmetic, float32
        matrix products without tensor cores otherwise) run under autocast of that dtype, as
        LM training runs them in mixed precision; the LSTMs stay as they are (float32). The
        states differ from float32's by that dtype's rounding, so a model trained with one
        precision should tag with the same one (its archive keeps it); `cache` keeps the
        states of each precision apart. LM archives only (not the ELMo format). Prefer
        `"bfloat16"`: float16's range may not hold the activations of an LM trained in another
        precision, and on a CPU float16 autocast is slow.
    """

    def __init__(
        self,
        expected_dim: int,
        pretrained_file: Optional[Dict[str, str]] = None,
        layer: int = -1,
        directions: str = "both",
        vocab: Optional[Vocabulary] = None,
        cache: Optional[Dict[str, Any]] = None,
        precision: str = "float32",
    ) -> None:
        super().__init__()
        if directions not in DIRECTION_CHOICES:
            raise ConfigurationError(
                f"directions must be one of {sorted(DIRECTION_CHOICES)}, not {directions!r}"
            )
        if precision != "float32" and precision not in MIXED_PRECISION_DTYPES:
            raise ConfigurationError(
                f"precision must be one of {['float32', *sorted(MIXED_PRECISION_DTYPES)]}, "
                f"not {precision!r}"
            )
        self._precision = precision
        self._token_encoder_dtype = MIXED_PRECISION_DTYPES.get(precision)
        self._expected_dim = expected_dim
        self._layer = layer
        self._directions = DIRECTION_CHOICES[directions]
        self._vocab = vocab
        self._state_cache: Optional[LmStateCache] = None
        if cache is not None:
            unknown = sorted(set(cache) - {"max_memory_mib", "directory"})
            if unknown or "max_memory_mib" not in cache:
                raise ConfigurationError(
                    "cache must be {'max_memory_mib': ..., 'directory': ... (optional)}, "
                    f"not {cache!r}"
                )
            self._state_cache = LmStateCache(expected_dim, **cache)
        self._lm_fingerprint: Optional[str] = None
        self.register_buffer("bilm_spec", torch.zeros(0, dtype=torch.uint8))
        self.bilm: Optional[PretrainedBiLm] = None
        self._bilm_from_files = pretrained_file is not None
        if pretrained_file is not None:
            self._attach(read_pretrained_bilm(pretrained_file, directions))

    def get_output_dim(self) -> int:
        return self._expected_dim

    def reloaded_state(self) -> List[str]:
        """The LM's weights, when they were read from `pretrained_file`: training checkpoints
        leave them out (`taglm_plugin.training.reloaded_state`)."""
        if not self._bilm_from_files or self.bilm is None:
            return []
        return [f"bilm.{name}" for name in self.bilm.state_dict()]

    @property
    def state_cache(self) -> Optional[LmStateCache]:
        """The cache of the LM's states, `None` without `cache`."""
        return self._state_cache

    def token_indexer_params(self) -> Dict[str, Any]:
        """The config of the token indexer the dataset reader must use for the LM's tokens."""
        return self._loaded_bilm().token_indexer_params()

    def token_indexer(self) -> TokenIndexer:
        return TokenIndexer.from_params(Params(self.token_indexer_params()))

    def train(self, mode: bool = True) -> "FrozenBiLmEmbedder":
        super().train(mode)
        if self.bilm is not None:
            self.bilm.eval()
        return self

    def forward(self, **lm_tensors: torch.Tensor) -> torch.Tensor:  # type: ignore
        """
        # Parameters

        **lm_tensors : `torch.Tensor`
            The LM token indexer's tensors by name, e.g. `elmo_tokens` `(batch_size, num_tokens,
            50)` for `elmo_characters`.

        # Returns

        `(batch_size, num_tokens, expected_dim)`: the chosen layer's forward states, then its
        backward states (or one of them), zero at padding.
        """
        with torch.no_grad():
            if self._state_cache is None:
                return self._lm_states(lm_tensors)
            mask = get_text_field_mask({"lm": lm_tensors})
            return self._state_cache(lm_tensors, mask, self._fingerprint(), self._lm_states)

    def _lm_states(self, lm_tensors: Dict[str, torch.Tensor]) -> torch.Tensor:
        states = self._loaded_bilm()(lm_tensors, self._layer, self._token_encoder_dtype)
        return torch.cat([states[direction] for direction in self._directions], dim=-1)

    def _fingerprint(self) -> str:
        """The LM's `state_dict_fingerprint`, computed once per loaded LM, with the token
        encoders' precision unless float32 (so that existing stores of float32 states stay
        valid)."""
        if self._lm_fingerprint is None:
            precision = [] if self._precision == "float32" else [f"precision {self._precision}"]
            self._lm_fingerprint = state_dict_fingerprint(
                self.state_dict(), f"layer {self._layer}", "+".join(self._directions), *precision
            )
        return self._lm_fingerprint

    def _loaded_bilm(self) -> PretrainedBiLm:
        if self.bilm is None:
            raise ConfigurationError(
                "frozen_bilm has no LM: it was built without pretrained_file (as when a model "
                "archive is loaded) and no state dict with its bilm_spec has been loaded yet"
            )
        return self.bilm

    def _attach(self, bilm: PretrainedBiLm) -> None:
        """Checks `bilm` against this embedder's config, freezes it and makes it `self.bilm`."""
        if not -bilm.num_layers <= self._layer < bilm.num_layers:
            raise ConfigurationError(
                f"layer = {self._layer} is out of range: the LM has {bilm.num_layers} layers "
                f"(0 = token embedding, 1 to {bilm.num_layers - 1} = LSTM layers; negative "
                "values count from the top)"
            )
        layer_dims = bilm.layer_dims(self._layer)
        missing = [direction for direction in self._directions if direction not in layer_dims]
        if missing:
            raise ConfigurationError(f"directions needs the {missing[0]} LM, which is not loaded")
        output_dim = sum(layer_dims[direction] for direction in self._directions)
        if output_dim != self._expected_dim:
            described = " + ".join(f"{layer_dims[d]} ({d})" for d in self._directions)
            raise ConfigurationError(
                f"expected_dim = {self._expected_dim}, but layer {self._layer} of the LM with "
                f"directions {'+'.join(self._directions)} gives {described} = {output_dim}"
            )
        if self._token_encoder_dtype is not None and not bilm.supports_token_encoder_dtype:
            raise ConfigurationError(
                f"precision = {self._precision!r} needs taglm_language_model archives: a "
                f"biLM of format {bilm.format_name!r} runs its token encoder in float32 only"
            )
        if self._state_cache is not None and bilm.stateful:
            raise ConfigurationError(
                f"cache cannot be used with a biLM of format {bilm.format_name!r}: it carries "
                "its LSTM states from batch to batch, so a sentence's states depend on the "
                "batches before it; leave cache out (or use taglm_language_model archives)"
            )
        self._check_vocabulary(bilm.vocabulary_namespaces())
        for parameter in bilm.parameters():
            parameter.requires_grad_(False)
        spec_bytes = bytearray(json.dumps(bilm.spec()).encode())
        self.bilm_spec = torch.frombuffer(spec_bytes, dtype=torch.uint8).to(
            self.bilm_spec.device, copy=True
        )
        self.bilm = bilm.to(self.bilm_spec.device).eval()

    def _check_vocabulary(self, lm_namespaces: Dict[str, Dict[int, str]]) -> None:
        for namespace, lm_index_to_token in lm_namespaces.items():
            if self._vocab is None:
                raise ConfigurationError(
                    f"the LM's token indexer reads vocabulary namespace {namespace!r}: "
                    "frozen_bilm needs the tagger's vocab to check it"
                )
            index_to_token = self._vocab.get_index_to_token_vocabulary(namespace)
            if index_to_token == lm_index_to_token:
                continue
            first_difference = next(
                (
                    index
                    for index in range(max(len(index_to_token), len(lm_index_to_token)))
                    if index_to_token.get(index) != lm_index_to_token.get(index)
                ),
                None,
            )
            raise ConfigurationError(
                f"mismatched LM vocabulary: the LM's token indexer reads namespace {namespace!r} "
                f"({len(lm_index_to_token)} entries), but the tagger's vocabulary namespace "
                f"{namespace!r} has {len(index_to_token)} entries and differs at index "
                f"{first_difference} ({index_to_token.get(first_difference)!r} vs the LM's "
                f"{lm_index_to_token.get(first_difference)!r}); build that namespace of the "
                "tagger's vocabulary from the LM's vocabulary"
            )

    def _load_from_state_dict(
        self,
        state_dict: Dict[str, torch.Tensor],
        prefix: str,
        local_metadata: Dict[str, Any],
        strict: bool,
        missing_keys: List[str],
        unexpected_keys: List[str],
        error_msgs: List[str],
    ) -> None:
        # Runs before the children are loaded, so an LM built here receives its weights.
        self._lm_fingerprint = None
        fill_reloaded_state(self, state_dict, prefix)
        spec = state_dict.get(prefix + "bilm_spec")
        if spec is not None and spec.numel() > 0:
            if self.bilm is None:
                spec_json = json.loads(spec.cpu().numpy().tobytes().decode())
                if spec_json.get("format") not in _BILM_FORMATS:
                    raise ConfigurationError(
                        f"{prefix}bilm_spec names an unknown LM format {spec_json.get('format')!r}"
                    )
                self._attach(_BILM_FORMATS[spec_json["format"]].from_spec(spec_json))
            elif not torch.equal(spec.cpu(), self.bilm_spec.cpu()):
                raise ConfigurationError(
                    f"the state dict's {prefix}bilm_spec describes another LM than the one "
                    "loaded from pretrained_file"
                )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
