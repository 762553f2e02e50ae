import contextlib
from typing import Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.modules import SoftmaxLoss
from allennlp.modules.text_field_embedders import TextFieldEmbedder
from allennlp.modules.token_embedders import Embedding, TokenCharactersEncoder
from allennlp.nn import InitializerApplicator
from allennlp.nn.util import get_text_field_mask

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.lm.adaptive_softmax_loss import AdaptiveSoftmaxLoss
from taglm_plugin.lm.conventions import DIRECTIONS, IGNORED_TARGET
from taglm_plugin.lm.log_uniform_sampled_softmax_loss import (
    LOGITS_PRECISIONS,
    LogUniformSampledSoftmaxLoss,
)
from taglm_plugin.lm.stacked_projection_lstm import StackedProjectionLstm
from taglm_plugin.lm.token_perplexity import TokenPerplexity

SOFTMAXES = ("full", "sampled", "adaptive")
MIXED_PRECISION_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
LSTM_PRECISIONS = ("mixed", "float32")


@Model.register("taglm_language_model")
class LanguageModel(ChecksConfigKeys, Model):
    """
    A unidirectional LSTM language model over sentences (Peters et al., 2017, Sec. 2.3, after
    the CNN-BIG-LSTM family of Jozefowicz et al., 2016): token embedding (a character CNN with
    highway layers, or word embeddings) -> `StackedProjectionLstm` -> softmax over the words of
    the `target_namespace` vocabulary.

    It reads a sentence in one direction only: a backward LM is the same model trained on
    reversed sentences (`taglm_lm_text` reader with `direction: "backward"`). `direction` is
    recorded here (and so in the archive) so that users of the LM know to reverse their input.

    Sentence boundaries: before the first token the LSTMs read a learned start-of-sentence
    vector (in the token-embedding space, `start_of_sentence_embedding`). The output after
    `i` tokens (`i = 0 .. n`) predicts `targets[i]`, which the reader sets to the sentence's
    tokens followed by `</S>`: the first word is predicted from the start state and the last
    output predicts the end of the sentence. Perplexity is `exp` of the mean NLL over all
    these `n + 1` predictions per sentence (`@@UNKNOWN@@` counts as a word, as usual for a
    fixed-vocabulary LM).

    Softmax: `"sampled"` (allennlp's `SampledSoftmaxLoss` with its log-uniform sampling of
    `num_samples` words done on the model's device, `LogUniformSampledSoftmaxLoss`; exact
    full softmax in evaluation), `"full"` (allennlp's
    `SoftmaxLoss`), `"adaptive"` (`torch.nn.AdaptiveLogSoftmaxWithLoss` with
    `adaptive_cutoffs`), or `None`: no output layer, for an LM that only gives its states
    (what `taglm_plugin.lm.encoder_export` writes). Validation perplexity is exact for all
    three; the training perplexity of `"sampled"` is that of the sampled loss.

    Inputs: the keys of `tokens` are those of `text_field_embedder`. The configs in
    `training_configs/lm` use the key `"elmo"` with allennlp's `elmo_characters` indexer (no
    vocabulary): `tokens = {"elmo": {"elmo_tokens": (batch_size, num_tokens, 50)}}` and
    `token_embedders: {"elmo": {"type": "character_encoding", ...}}`. `forward` also takes the
    batches of the `taglm_lm_cache` data loader: `tokens` then holds each distinct token type
    of the batch once, `(1, num_type_rows, ...)` (padding rows included), and `token_types`
    `(batch_size, num_tokens)` says which type every token is (0: padding); the types are
    embedded once and gathered (exact for a per-token embedder such as the character CNN).

    Mixed precision: `mixed_precision = "bfloat16"` (or `"float16"`) runs the token embedder and
    the LSTMs under `torch.autocast` of that dtype (for float16 use allennlp's `trainer.use_amp`
    instead, which adds a `GradScaler`). bfloat16 has float32's range and needs no loss scaling,
    except in the LSTMs: under bfloat16 autocast cuDNN computes them in float16, where their
    gradients underflow (docs/PERFORMANCE.md), so the LM configs set `lstm_precision =
    "float32"` (below). The softmax always
    runs in float32 (autocast off), so the logits keep their precision; with
    `softmax = "sampled"`, `softmax_precision = "bfloat16"` rounds only the operands of the
    sampled logits' matrix products to bfloat16 (tensor cores; float32 accumulation, logits and
    log-sum-exp; see `LogUniformSampledSoftmaxLoss`). That is a setting of this model, not
    PyTorch's process-wide TF32 switch (`torch.backends.cuda.matmul.allow_tf32`), which would
    change every other float32 product in the process too. `lstm_precision = "float32"` keeps
    the LSTMs out of that autocast (and out of the trainer's `use_amp` one): only the token
    embedder runs in the lower precision.

    The loss is computed for every position of the padded batch, padding left out by its
    `IGNORED_TARGET` class, with no boolean indexing: nothing in the forward or backward pass
    waits for the GPU until the loss and the metric are read at the end of `forward`.

    Registered as a `Model` with name "taglm_language_model".

    The parameters of the output layer are those whose names start with `SOFTMAX_PREFIX`.

    # Parameters

    vocab : `Vocabulary`
    text_field_embedder : `TextFieldEmbedder`
        Embeds `tokens`: `(batch_size, num_tokens, encoder.input_size)`.
    encoder : `StackedProjectionLstm`
    direction : `str`, optional (default = `"forward"`)
        `"forward"` or `"backward"`: the order the LM was trained to read sentences in.
    softmax : `str`, optional (default = `"sampled"`)
        `"sampled"`, `"full"`, `"adaptive"` or `None`.
    num_samples : `int`, optional
        Words sampled per batch; required for (and only for) `softmax = "sampled"`.
    adaptive_cutoffs : `List[int]`, optional
        Cluster boundaries; required for (and only for) `softmax = "adaptive"`.
    dropout : `float`, optional (default = `0.0`)
        Dropout on the top LSTM layer's output before the softmax (the encoder has its own).
    target_namespace : `str`, optional (default = `"lm_targets"`)
        Vocabulary namespace of the predicted words.
    mixed_precision : `str`, optional (default = `None`)
        `None` (float32), `"bfloat16"` or `"float16"`: autocast dtype of the encoder.
    softmax_precision : `str`, optional (default = `"float32"`)
        `"float32"` or `"bfloat16"`: operands of the sampled logits' products in training
        (`softmax = "sampled"` only).
    lstm_precision : `str`, optional (default = `"mixed"`)
        `"mixed"`: the LSTMs run under the autocast of `mixed_precision` (or `use_amp`) like the
        token embedder; `"float32"`: they run in float32 whatever the autocast.
    initializer : `InitializerApplicator`, optional
    """

    SOFTMAX_PREFIX = "_softmax_loss."

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        encoder: StackedProjectionLstm,
        direction: str = "forward",
        softmax: Optional[str] = "sampled",
        num_samples: Optional[int] = None,
        adaptive_cutoffs: Optional[List[int]] = None,
        dropout: float = 0.0,
        target_namespace: str = "lm_targets",
        mixed_precision: Optional[str] = None,
        softmax_precision: str = "float32",
        lstm_precision: str = "mixed",
        initializer: Optional[InitializerApplicator] = None,
        **kwargs,
    ) -> None:
        super().__init__(vocab, **kwargs)
        if direction not in DIRECTIONS:
            raise ConfigurationError(
                f"model.direction must be one of {DIRECTIONS}, got {direction!r}"
            )
        if mixed_precision is not None and mixed_precision not in MIXED_PRECISION_DTYPES:
            raise ConfigurationError(
                f"model.mixed_precision must be one of {sorted(MIXED_PRECISION_DTYPES)} or null, "
                f"got {mixed_precision!r}"
            )
        self._autocast_dtype = MIXED_PRECISION_DTYPES.get(mixed_precision)  # type: ignore
        if lstm_precision not in LSTM_PRECISIONS:
            raise ConfigurationError(
                f"model.lstm_precision must be one of {list(LSTM_PRECISIONS)}, "
                f"got {lstm_precision!r}"
            )
        self._float32_lstm = lstm_precision == "float32"
        token_dim = text_field_embedder.get_output_dim()
        if encoder.input_size != token_dim:
            raise ConfigurationError(
                f"model.encoder.input_size = {encoder.input_size} but "
                f"model.text_field_embedder gives vectors of size {token_dim}"
            )
        self.direction = direction
        self._text_field_embedder = text_field_embedder
        self._encoder = encoder
        self.start_of_sentence_embedding = torch.nn.Parameter(
            torch.randn(token_dim) / token_dim**0.5
        )
        self._dropout = torch.nn.Dropout(dropout)
        self._target_namespace = target_namespace
        self._softmax_loss = self._build_softmax_loss(
            softmax, num_samples, adaptive_cutoffs, softmax_precision
        )
        self._perplexity = TokenPerplexity()
        if initializer is not None:
            initializer(self)

    def _build_softmax_loss(
        self,
        softmax: Optional[str],
        num_samples: Optional[int],
        adaptive_cutoffs: Optional[List[int]],
        softmax_precision: str,
    ) -> Optional[torch.nn.Module]:
        if softmax is not None and softmax not in SOFTMAXES:
            raise ConfigurationError(
                f"model.softmax must be one of {SOFTMAXES} or null, got {softmax!r}"
            )
        if num_samples is not None and softmax != "sampled":
            raise ConfigurationError("model.num_samples is only used with model.softmax = sampled")
        if adaptive_cutoffs is not None and softmax != "adaptive":
            raise ConfigurationError(
                "model.adaptive_cutoffs is only used with model.softmax = adaptive"
            )
        if softmax_precision not in LOGITS_PRECISIONS:
            raise ConfigurationError(
                f"model.softmax_precision must be one of {sorted(LOGITS_PRECISIONS)}, "
                f"got {softmax_precision!r}"
            )
        if softmax_precision != "float32" and softmax != "sampled":
            raise ConfigurationError(
                "model.softmax_precision is only used with model.softmax = sampled"
            )
        if softmax is None:
            return None
        # The softmax has no class for the padding id 0: word id w is class w - 1.
        num_words = self.vocab.get_vocab_size(self._target_namespace) - 1
        if num_words < 2:
            raise ConfigurationError(
                f"The vocabulary namespace {self._target_namespace!r} (model.target_namespace) "
                "has no words; build it from the `targets` field of the taglm_lm_text reader"
            )
        dim = self._encoder.get_output_dim()
        if softmax == "full":
            return SoftmaxLoss(num_words, dim)
        if softmax == "sampled":
            if num_samples is None or not 0 < num_samples < num_words:
                raise ConfigurationError(
                    "model.num_samples must be set, between 0 and the vocabulary size "
                    f"{num_words} (exclusive), for model.softmax = sampled; got {num_samples}"
                )
            return LogUniformSampledSoftmaxLoss(num_words, dim, num_samples, softmax_precision)
        if adaptive_cutoffs is None:
            raise ConfigurationError("model.adaptive_cutoffs must be set for softmax = adaptive")
        try:
            return AdaptiveSoftmaxLoss(num_words, dim, adaptive_cutoffs)
        except ValueError as error:
            raise ConfigurationError(
                f"model.adaptive_cutoffs = {adaptive_cutoffs} for {num_words} words: {error}"
            ) from error

    @property
    def embeds_tokens_alone(self) -> bool:
        """Whether each token's embedding depends on that token's ids only (every token embedder
        a character encoder or an embedding table), so that `token_types` embeds exactly."""
        return all(
            isinstance(embedder, (TokenCharactersEncoder, Embedding))
            for embedder in self._text_field_embedder._token_embedders.values()
        )

    @property
    def num_layers(self) -> int:
        """How many tensors `contextual_states` returns: the token embedding and each LSTM layer."""
        return 1 + self._encoder.num_layers

    def get_output_dim(self) -> int:
        """Dimension of the top LSTM layer's states."""
        return self._encoder.get_output_dim()

    def contextual_states(
        self,
        tokens: TextFieldTensors,
        token_types: Optional[torch.LongTensor] = None,
        token_encoder_dtype: Optional[torch.dtype] = None,
    ) -> List[torch.Tensor]:
        """
        The LM's representation of every token, without computing a loss.

        # Parameters

        tokens : `TextFieldTensors`
            Sentences in the LM's reading order (reversed for a backward LM), indexed with the
            LM's token indexers, padded at the end; with `token_types`, the batch's distinct
            token types `(1, num_types, ...)` instead, row 0 padding (as for `forward`).
        token_types : `torch.LongTensor`, optional
            `(batch_size, num_tokens)`: the row of `tokens` of every token, 0 at padding; each
            type is then embedded once (exact for a per-token embedder such as the character
            CNN, up to float rounding).
        token_encoder_dtype : `torch.dtype`, optional
            The token embedder (for the LM configs: the character CNN, highway layers and
            projection) runs under `torch.autocast` of this dtype, its output converted back to
            float32; the LSTMs then run as without it. `None`: no autocast of its own.

        # Returns

        `num_layers` tensors: index 0 the token embeddings `(batch_size, num_tokens,
        token_dim)`, then each LSTM layer's output `(batch_size, num_tokens, output_dim)`,
        bottom first. Position `t` of a layer has read tokens `0 .. t`. Zero at padding.
        Dropout applies in training mode only; call `eval()` for deterministic states.
        """
        token_embeddings, layer_outputs, _ = self._encode(tokens, token_types, token_encoder_dtype)
        return [token_embeddings] + [output[:, 1:] for output in layer_outputs]

    def _encode(
        self,
        tokens: TextFieldTensors,
        token_types: Optional[torch.LongTensor] = None,
        token_encoder_dtype: Optional[torch.dtype] = None,
    ) -> Tuple[torch.Tensor, List[torch.Tensor], torch.BoolTensor]:
        """
        Returns the token embeddings `(batch_size, num_tokens, token_dim)` (zero at padding),
        every LSTM layer's output after the start-of-sentence step and each token
        `(batch_size, 1 + num_tokens, output_dim)`, and that mask `(batch_size, 1 + num_tokens)`.
        With `token_types` (see `forward`), `tokens` holds the batch's distinct types; with
        `token_encoder_dtype` (see `contextual_states`), the token embedder runs in it.
        """
        if token_types is None:
            mask = get_text_field_mask(tokens)
            token_embeddings = self._embed_tokens(tokens, token_encoder_dtype)
        else:
            mask = token_types != 0
            token_embeddings = self._embed_tokens(tokens, token_encoder_dtype)[0][token_types]
        token_embeddings = token_embeddings * mask.unsqueeze(-1)
        batch_size = token_embeddings.size(0)
        start = self.start_of_sentence_embedding.to(token_embeddings.dtype)
        inputs = torch.cat([start.expand(batch_size, 1, -1), token_embeddings], dim=1)
        mask_with_start = torch.cat([mask.new_ones(batch_size, 1), mask], dim=1)
        if not self._float32_lstm:
            return token_embeddings, self._encoder(inputs, mask_with_start), mask_with_start
        with torch.autocast(inputs.device.type, enabled=False):
            layer_outputs = self._encoder(inputs.float(), mask_with_start)
        return token_embeddings, layer_outputs, mask_with_start

    def _embed_tokens(
        self, tokens: TextFieldTensors, dtype: Optional[torch.dtype]
    ) -> torch.Tensor:
        """The text field embedder's output, computed under autocast of `dtype` (then in
        float32) if given."""
        if dtype is None:
            return self._text_field_embedder(tokens)
        device = next(self.parameters()).device
        with torch.autocast(device.type, dtype=dtype):
            return self._text_field_embedder(tokens).float()

    def forward(  # type: ignore
        self,
        tokens: TextFieldTensors,
        targets: Optional[TextFieldTensors] = None,
        token_types: Optional[torch.LongTensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """
        # Parameters

        tokens : `TextFieldTensors`
            The sentences in the LM's reading order, e.g. `elmo_characters` ids `(batch_size,
            num_tokens, 50)`; with `token_types`, the batch's distinct token types `(1,
            num_type_rows, ...)` (row 0: padding; rows may be padded up to a multiple, see the
            `taglm_lm_cache` loader's `pad_types_to_multiple`).
        targets : `TextFieldTensors`, optional
            `(batch_size, num_tokens + 1)` ids in `target_namespace`: the tokens then `</S>`.
        token_types : `torch.LongTensor`, optional
            `(batch_size, num_tokens)`: the row of `tokens` of every token, 0 at padding (the
            batches of the `taglm_lm_cache` data loader).

        # Returns

        Without `targets`: `top_layer` `(batch_size, num_tokens, output_dim)` and `mask`
        `(batch_size, num_tokens)`. With `targets`: `loss` (mean NLL per predicted token, of
        the sampled softmax in training if `softmax = "sampled"`) and `num_targets` (how many
        tokens it is the mean over).
        """
        device_type = self.start_of_sentence_embedding.device.type
        # Without mixed_precision, whatever autocast the trainer set (use_amp) applies.
        with (
            torch.autocast(device_type, dtype=self._autocast_dtype)
            if self._autocast_dtype is not None
            else contextlib.nullcontext()
        ):
            _, layer_outputs, mask_with_start = self._encode(tokens, token_types)
        top_layer = layer_outputs[-1].float()
        if targets is None:
            return {"top_layer": top_layer[:, 1:], "mask": mask_with_start[:, 1:]}
        if self._softmax_loss is None:
            raise ConfigurationError(
                "This language model has no softmax (model.softmax = null): it gives "
                "contextual_states, it cannot score targets"
            )
        target_ids = targets[self._target_namespace]["tokens"]
        target_mask = get_text_field_mask(targets)
        if target_ids.shape != mask_with_start.shape:
            raise self._targets_error(mask_with_start, target_ids)
        # (batch_size * (num_tokens + 1), output_dim) and (batch_size * (num_tokens + 1),)
        states = self._dropout(top_layer).flatten(0, 1)
        word_classes = torch.where(target_mask, target_ids - 1, IGNORED_TARGET).flatten()
        # float32 logits whatever the trainer's autocast (allennlp's use_amp).
        with torch.autocast(device_type, enabled=False):
            summed_nll = self._softmax_loss(states, word_classes)
        num_targets = target_mask.sum()
        # Checked here, where the metric waits for the GPU anyway (earlier it would stall the
        # host mid-forward).
        if (target_mask != mask_with_start).any():
            raise self._targets_error(mask_with_start, target_ids)
        self._perplexity(summed_nll, num_targets)
        return {"loss": summed_nll / num_targets, "num_targets": num_targets}

    @staticmethod
    def _targets_error(mask_with_start: torch.BoolTensor, target_ids: torch.Tensor) -> ValueError:
        return ValueError(
            "Every sentence needs one more target than tokens (its tokens then </S>); got "
            f"tokens of shape {tuple(mask_with_start[:, 1:].shape)} and targets of shape "
            f"{tuple(target_ids.shape)} with other lengths"
        )

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        return {"perplexity": self._perplexity.get_metric(reset)}
