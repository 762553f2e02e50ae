import copy
import logging
import os
import tempfile
from collections import defaultdict
from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.params import remove_keys_from_params
from allennlp.data import Token, TokenIndexer, Vocabulary
from allennlp.models import Model
from allennlp.nn.util import get_text_field_mask

from taglm_plugin.bilm.pretrained_bilm import PretrainedBiLm
from taglm_plugin.bilm.sequence_reversal import reverse_padded_sequences
from taglm_plugin.common.safe_loading import ArchiveError, load_archive
from taglm_plugin.lm.encoder_export import encoder_config, encoder_state_dict
from taglm_plugin.lm.language_model import LanguageModel

logger = logging.getLogger(__name__)

_PROBE_TOKEN = "the"
_NON_PADDED_NAMESPACES_FILE = "non_padded_namespaces.txt"


def vocabulary_to_json(vocab: Vocabulary, padding_token: str, oov_token: str) -> Dict[str, Any]:
    """
    `vocab` in allennlp's own file format (`save_to_files`), as `{file name: text}`. allennlp
    writes `non_padded_namespaces.txt` from a set, in an order that depends on the process's
    string hashing (`PYTHONHASHSEED`); its lines are sorted here, so that every process (each
    distributed worker, a `--recover`ed run) gets the same `bilm_spec` and LM fingerprint.
    """
    with tempfile.TemporaryDirectory() as directory:
        vocab.save_to_files(directory)
        files = {}
        for name in sorted(os.listdir(directory)):
            if not name.startswith("."):
                with open(os.path.join(directory, name), encoding="utf-8") as vocab_file:
                    files[name] = vocab_file.read()
    namespaces = files.get(_NON_PADDED_NAMESPACES_FILE)
    if namespaces is not None:
        files[_NON_PADDED_NAMESPACES_FILE] = "".join(sorted(namespaces.splitlines(True)))
    return {"files": files, "padding_token": padding_token, "oov_token": oov_token}


def vocabulary_from_json(vocab_json: Dict[str, Any]) -> Vocabulary:
    with tempfile.TemporaryDirectory() as directory:
        for name, text in vocab_json["files"].items():
            with open(os.path.join(directory, name), "w", encoding="utf-8") as vocab_file:
                vocab_file.write(text)
        return Vocabulary.from_files(
            directory, vocab_json["padding_token"], vocab_json["oov_token"]
        )


def _namespaces_read_by(indexer: TokenIndexer) -> List[str]:
    """The vocabulary namespaces `indexer` looks tokens up in: those it counts tokens in."""
    counter: Dict[str, Dict[str, int]] = defaultdict(lambda: defaultdict(int))
    indexer.count_vocab_items(Token(_PROBE_TOKEN), counter)
    return sorted(counter)


def _build_language_model(model_config: Dict[str, Any], vocab: Vocabulary) -> Model:
    """The untrained LM of `model_config` (without the keys that would load weights or
    initialize them: the weights come from a state dict, as when allennlp loads an archive)."""
    params = Params(copy.deepcopy(model_config))
    remove_keys_from_params(params)
    return Model.from_params(vocab=vocab, params=params)


def _one_token_batch(indexer: TokenIndexer, vocab: Vocabulary) -> Dict[str, torch.Tensor]:
    """`indexer`'s tensors for a batch of one sentence of one token, e.g. `(1, 1, 50)`."""
    indices = indexer.tokens_to_indices([Token(_PROBE_TOKEN)], vocab)
    padded = indexer.as_padded_tensor_dict(indices, indexer.get_padding_lengths(indices))
    return {name: tensor.unsqueeze(0) for name, tensor in padded.items()}


def distinct_token_rows(ids: torch.Tensor) -> Tuple[torch.Tensor, torch.LongTensor]:
    """
    The distinct rows of per-token ids (e.g. `elmo_characters`' 50 character ids; 0 is
    padding, and a token's row is never all zeros) and where each token's row is:
    `(1, num_types, row_length)` with the all-zero padding row first, and `(batch_size,
    num_tokens)` type indices, 0 at padding (`LanguageModel.contextual_states`' `tokens` and
    `token_types`). `ids`: `(batch_size, num_tokens, row_length)`.
    """
    rows = ids.reshape(-1, ids.size(-1))
    # The padding row first whether or not the batch has padding: the smallest row, all zeros.
    rows = torch.cat([rows.new_zeros(1, rows.size(1)), rows])
    types, inverse = torch.unique(rows, dim=0, return_inverse=True)
    return types.unsqueeze(0), inverse[1:].view(ids.shape[:-1])


class LanguageModelBiLm(PretrainedBiLm):
    """
    A forward and a backward `taglm_language_model` (two separate models sharing no parameters),
    or one of them. Each reads the sentences in the order it was trained on: the backward LM
    gets every sentence reversed (real tokens only; padding stays at the end) and its states
    are reversed back, so that position `t` holds its state at token `t` (having read tokens
    `n-1 .. t`).

    Layers are those of `LanguageModel.contextual_states`: 0 the token embedding, then the LSTM
    layers. With an indexer of one row of ids per token (`elmo_characters`) and token encoders
    that embed each token alone (`LanguageModel.embeds_tokens_alone`: the LM configs'
    character CNN), each LM's token encoder runs once per distinct word of the batch
    (`distinct_token_rows`, as in LM training; eng.testa in the predictor's batches of 512:
    17,184 words for 72,650 padded positions), with the states of running it on every token,
    up to float rounding. The LMs must read the same input: the same single token indexer (the
    one of their dataset reader, under the key their `text_field_embedder` expects) and, for
    indexers that use a vocabulary, the same namespaces.

    # Parameters

    language_models : `Dict[str, Model]`
        `taglm_language_model`s (`LanguageModel`), by direction (`"forward"`, `"backward"`).
    specs : `Dict[str, Dict[str, Any]]`
        By direction: `{"model": the LM's model config, "token_indexers": its reader's
        token_indexers config, "vocabulary": vocabulary_to_json(its vocabulary)}`; enough to
        build the same LM again with `from_spec`.
    """

    format_name = "taglm_language_model"

    def __init__(
        self, language_models: Dict[str, Model], specs: Dict[str, Dict[str, Any]]
    ) -> None:
        super().__init__()
        for direction, language_model in language_models.items():
            self.add_module(f"{direction}_lm", language_model)
        self._specs = specs
        directions = list(language_models)
        indexer_configs = {direction: specs[direction]["token_indexers"] for direction in specs}
        if any(config != indexer_configs[directions[0]] for config in indexer_configs.values()):
            raise ConfigurationError(
                "the forward and backward LMs index their tokens differently "
                f"(dataset_reader.token_indexers {indexer_configs['forward']} and "
                f"{indexer_configs['backward']}); frozen_bilm feeds both the same tensors"
            )
        indexer_config = indexer_configs[directions[0]]
        if len(indexer_config) != 1:
            raise ConfigurationError(
                f"the LM's dataset_reader.token_indexers {indexer_config} has "
                f"{len(indexer_config)} indexers; frozen_bilm is a token embedder for one"
            )
        ((self._indexer_key, self._indexer_params),) = indexer_config.items()
        indexer = TokenIndexer.from_params(Params(copy.deepcopy(self._indexer_params)))
        namespaces = _namespaces_read_by(indexer)
        vocabularies = {
            direction: {
                namespace: language_models[direction].vocab.get_index_to_token_vocabulary(namespace)
                for namespace in namespaces
            }
            for direction in directions
        }
        if any(vocabulary != vocabularies[directions[0]] for vocabulary in vocabularies.values()):
            raise ConfigurationError(
                f"the forward and backward LMs' vocabularies differ in the namespaces "
                f"{namespaces} that their token indexer reads"
            )
        self._vocabulary_namespaces = vocabularies[directions[0]]

        # One token through each LM gives its layers and their dimensions.
        probe = _one_token_batch(indexer, language_models[directions[0]].vocab)
        self._tensor_names = set(probe)
        self._layer_dims: Dict[str, List[int]] = {}
        for direction, language_model in language_models.items():
            language_model.eval()
            with torch.no_grad():
                states = language_model.contextual_states({self._indexer_key: probe})
            self._layer_dims[direction] = [layer.size(-1) for layer in states]
        num_layers = {direction: len(dims) for direction, dims in self._layer_dims.items()}
        if len(set(num_layers.values())) > 1:
            raise ConfigurationError(
                f"the forward and backward LMs have different numbers of layers {num_layers}"
            )
        self.num_layers = num_layers[directions[0]]
        # One row of ids per token (characters) embedded by encoders of one token at a time:
        # each distinct word of a batch is embedded once (`forward`).
        self._distinct_words = (
            len(probe) == 1
            and next(iter(probe.values())).dim() == 3
            and all(lm.embeds_tokens_alone for lm in language_models.values())
        )

    @classmethod
    def from_archives(cls, archive_files: Dict[str, str]) -> "LanguageModelBiLm":
        """
        Loads the LMs from allennlp model archives of `taglm_language_model`s, keyed by
        direction, with `safe_loading.load_archive` (checked archives, registered types only),
        each once. A full archive's LM is rebuilt without its softmax (the model of
        `encoder_export.encoder_config`, the weights of `encoder_state_dict`), so that a
        tagger's archive does not carry it.
        """
        language_models = {}
        specs = {}
        for direction, archive_file in archive_files.items():
            key = f"pretrained_file.{direction}_archive"
            try:
                archive = load_archive(archive_file)
            except (ConfigurationError, ArchiveError) as error:
                raise ConfigurationError(f"{key} = {archive_file}: {error}") from error
            model = archive.model
            if not isinstance(model, LanguageModel):
                raise ConfigurationError(
                    f"{key} = {archive_file} holds a {archive.config['model'].get('type')!r} "
                    "model, not a taglm_language_model"
                )
            config = archive.config.as_dict(quiet=True)
            if any(name.startswith(LanguageModel.SOFTMAX_PREFIX) for name in model.state_dict()):
                config = encoder_config(config)
                encoder = _build_language_model(config["model"], model.vocab)
                encoder.load_state_dict(encoder_state_dict(model))
                model = encoder
            if model.direction != direction:
                raise ConfigurationError(
                    f"{key} = {archive_file} holds a {model.direction} LM "
                    f"(model.direction = {model.direction!r})"
                )
            token_indexers = config["dataset_reader"].get("token_indexers")
            if token_indexers is None:
                raise ConfigurationError(
                    f"{key} = {archive_file}: its config has no dataset_reader.token_indexers, "
                    "so the LM's token indexer is unknown"
                )
            vocabulary_config = config.get("vocabulary", {})
            specs[direction] = {
                "model": config["model"],
                "token_indexers": token_indexers,
                "vocabulary": vocabulary_to_json(
                    model.vocab,
                    vocabulary_config.get("padding_token"),
                    vocabulary_config.get("oov_token"),
                ),
            }
            language_models[direction] = model
        return cls(language_models, specs)

    @property
    def language_models(self) -> Dict[str, Model]:
        """The LMs by direction: the submodules `forward_lm` and/or `backward_lm`."""
        return {name[: -len("_lm")]: module for name, module in self.named_children()}

    def spec(self) -> Dict[str, Any]:
        return {"format": self.format_name, "language_models": self._specs}

    @classmethod
    def from_spec(cls, spec: Dict[str, Any]) -> "LanguageModelBiLm":
        language_models = {}
        for direction, lm_spec in spec["language_models"].items():
            language_models[direction] = _build_language_model(
                lm_spec["model"], vocabulary_from_json(lm_spec["vocabulary"])
            )
        return cls(language_models, spec["language_models"])

    def layer_dims(self, layer: int) -> Dict[str, int]:
        return {direction: dims[layer] for direction, dims in self._layer_dims.items()}

    def token_indexer_params(self) -> Dict[str, Any]:
        return copy.deepcopy(self._indexer_params)

    def vocabulary_namespaces(self) -> Dict[str, Dict[int, str]]:
        return self._vocabulary_namespaces

    def forward(  # type: ignore
        self,
        lm_tensors: Dict[str, torch.Tensor],
        layer: int,
        token_encoder_dtype: Optional[torch.dtype] = None,
    ) -> Dict[str, torch.Tensor]:
        if set(lm_tensors) != self._tensor_names:
            raise ConfigurationError(
                f"the LM's token indexer {self._indexer_params} produces "
                f"{sorted(self._tensor_names)}, but the LM tokens came as {sorted(lm_tensors)}"
            )
        mask = get_text_field_mask({self._indexer_key: lm_tensors})
        tokens, token_types = {self._indexer_key: lm_tensors}, None
        if self._distinct_words:
            ((name, ids),) = lm_tensors.items()
            types, token_types = distinct_token_rows(ids)
            tokens = {self._indexer_key: {name: types}}
        states = {}
        for direction, language_model in self.language_models.items():
            if direction == "forward":
                states[direction] = language_model.contextual_states(
                    tokens, token_types, token_encoder_dtype
                )[layer]
                continue
            if token_types is not None:
                reversed_tokens = tokens
                reversed_types = reverse_padded_sequences(token_types, mask)
            else:
                reversed_tokens = {
                    self._indexer_key: {
                        name: reverse_padded_sequences(tensor, mask)
                        for name, tensor in lm_tensors.items()
                    }
                }
                reversed_types = None
            reversed_states = language_model.contextual_states(
                reversed_tokens, reversed_types, token_encoder_dtype
            )[layer]
            states[direction] = reverse_padded_sequences(reversed_states, mask)
        return states
