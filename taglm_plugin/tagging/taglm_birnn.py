from typing import List, Optional

import torch
from allennlp.common.checks import ConfigurationError, check_dimensions_match
from allennlp.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder
from allennlp.modules.token_embedders import TokenEmbedder
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from taglm_plugin.common.config_keys import ChecksConfigKeys

_CELLS = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
_DROPOUT_MASKS = ("token", "sentence")


class _BiRnnLayer(torch.nn.Module):
    """
    One bidirectional LSTM or GRU layer (`_module`, `torch.nn.LSTM/GRU(bidirectional=True)`,
    the parameter names and initialization of allennlp's `LstmSeq2SeqEncoder` and
    `GruSeq2SeqEncoder`), run on the batch laid out by an `_Alignment`: padding never reaches
    a real token's states in either direction.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self._module = _CELLS[cell](input_size, hidden_size, batch_first=True, bidirectional=True)

    def forward(self, inputs: torch.Tensor, alignment: "_Alignment") -> torch.Tensor:
        """
        `inputs` `(batch_size, num_tokens, input_size)`, left-aligned ->
        `(batch_size, num_tokens, 2 * hidden_size)`, `[forward; backward]` states; positions
        after a sequence's end hold no meaningful states.
        """
        return alignment.run(self._module, inputs)


class _Alignment:
    """How the layers of one batch run their RNN on its left-aligned, padded sequences."""

    def run(self, module: torch.nn.RNNBase, inputs: torch.Tensor) -> torch.Tensor:
        """`module`'s states `(batch_size, num_tokens, 2 * hidden_size)` of `inputs`
        `(batch_size, num_tokens, input_size)`, padding kept out of every real token's."""
        raise NotImplementedError


class _StackedAlignment(_Alignment):
    """
    The GPU's layout: cuDNN on the padded batch, not on packed sequences (every cuDNN call on
    packed sequences copies the lengths from pageable memory and so waits for the GPU, which
    made the RNNs most of a GPU epoch's host time).

    On a padded batch the backward direction would read the padding before a sequence's
    last token. So the RNN reads the batch twice in one call, stacked along the batch: as it
    is (padding at the end), where the forward direction's states are right, and right-aligned
    (padding in front), where the backward direction's are; each direction is taken from its
    half. The unused halves double the GPU's RNN arithmetic, which costs far less than a
    second cuDNN call from the host.

    `mask` `(batch_size, num_tokens)` gives two gather indices along the tokens: `to_right`
    right-aligns each sequence (position `t` reads `t - shift`, `shift = num_tokens -
    length`; the padding in front reads position 0) and `to_left` undoes it (`t + shift`;
    positions after the sequence read the last one).
    """

    def __init__(self, mask: torch.BoolTensor) -> None:
        positions = torch.arange(mask.size(1), device=mask.device)
        shifts = mask.size(1) - mask.sum(1, keepdim=True)
        self._to_right = (positions - shifts).clamp(min=0)
        self._to_left = (positions + shifts).clamp(max=mask.size(1) - 1)

    def run(self, module: torch.nn.RNNBase, inputs: torch.Tensor) -> torch.Tensor:
        batch_size, hidden_size = inputs.size(0), module.hidden_size
        right_aligned = inputs.gather(1, self._to_right.unsqueeze(2).expand_as(inputs))
        states, _ = module(torch.cat([inputs, right_aligned]))
        forward_states = states[:batch_size, :, :hidden_size]
        backward_states = states[batch_size:, :, hidden_size:].gather(
            1, self._to_left.unsqueeze(2).expand(-1, -1, hidden_size)
        )
        return torch.cat([forward_states, backward_states], dim=-1)


class _PackedAlignment(_Alignment):
    """
    The layout of inference on the CPU: packed sequences, on which the RNN computes each
    sequence's real tokens only, with no host-device copy to wait for. Without gradients the
    stacked layout's doubled arithmetic made a baseline-size layer 3.5x slower on the CPU than
    packing (`benchmarks/birnn_layouts.py --device cpu --no-grad`, one thread: 258 against
    75 ms); with gradients packing's backward pass is the slower one (1.2 against 0.8 s), so
    CPU training keeps the stacked layout.

    `mask` `(batch_size, num_tokens)`; an empty sequence is packed as one (padded) token,
    whose states the encoder zeroes with the other padding.
    """

    def __init__(self, mask: torch.BoolTensor) -> None:
        self._lengths = mask.sum(1).clamp(min=1)

    def run(self, module: torch.nn.RNNBase, inputs: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(inputs, self._lengths, batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(
            module(packed)[0], batch_first=True, total_length=inputs.size(1)
        )
        return states


def _alignment(mask: torch.BoolTensor) -> _Alignment:
    """The layout for a batch with `mask` `(batch_size, num_tokens)`: packed on the CPU
    without gradients, stacked otherwise."""
    if mask.device.type == "cpu" and not torch.is_grad_enabled():
        return _PackedAlignment(mask)
    return _StackedAlignment(mask)


@Seq2SeqEncoder.register("taglm_birnn")
class TagLmBiRnnEncoder(ChecksConfigKeys, Seq2SeqEncoder):
    """
    The task encoder of TagLM (Peters et al., 2017, Sec 2): a stack of bidirectional RNN
    layers, with the biLM embedding concatenated to the input of one layer or to the output
    of the last one.

    Layer `k` (0-based) is a separate single-layer bidirectional LSTM or GRU with
    `hidden_sizes[k]` units per direction; padding never reaches the states of real tokens in
    either direction. Dropout is
    applied to the input of every RNN layer, including the LM embedding when it is part of
    that input: with `dropout_mask = "token"` each token's features are dropped
    independently; with `"sentence"` one mask per sentence and layer is shared by all its
    tokens (the variational dropout of Gal and Ghahramani (2016) on the layers' inputs, which
    Reimers and Gurevych (2017) found to help LSTM-CRF taggers; flair's `LockedDropout`).

    `lm_injection_layer = j` concatenates `lm_embeddings` to the input of layer `j`
    (`0`: next to the token representation; `1`: to the output of the first layer, the
    paper's best) or, for `j = len(hidden_sizes)`, to the output of the last layer. With
    `hidden_sizes = []` and `lm_injection_layer = 0` the encoder has no RNN and returns
    `[inputs; lm_embeddings]`, the paper's "no task RNN" ablation (LM and token
    representations go straight to the tagger's dense layer and CRF). With `lm_dim = 0` (and
    no `lm_injection_layer`) it is the plain stacked biRNN of the baseline.

    Registered as a `Seq2SeqEncoder` with name "taglm_birnn".

    # Parameters

    input_size : `int`
        Size of the token representations, the last dimension of `inputs`.
    hidden_sizes : `List[int]`
        Units per direction of each RNN layer, bottom first; `[]` for no RNN (then the LM must
        be injected at layer 0).
    cell : `str`, optional (default = `"lstm"`)
        `"lstm"` or `"gru"`.
    dropout : `float`, optional (default = `0.0`)
        Dropout probability on the input of every RNN layer.
    dropout_mask : `str`, optional (default = `"token"`)
        `"token"`: a mask per token; `"sentence"`: one per sentence, the same for its tokens.
    lm_dim : `int`, optional (default = `0`)
        Size of the LM embeddings; `0` means the encoder takes none.
    lm_injection_layer : `int`, optional (default = `None`)
        Where `lm_embeddings` are concatenated, `0 .. len(hidden_sizes)`; required when
        `lm_dim > 0` and not allowed otherwise.
    """

    def __init__(
        self,
        input_size: int,
        hidden_sizes: List[int],
        cell: str = "lstm",
        dropout: float = 0.0,
        dropout_mask: str = "token",
        lm_dim: int = 0,
        lm_injection_layer: Optional[int] = None,
    ) -> None:
        super().__init__()
        if cell not in _CELLS:
            raise ConfigurationError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
        if any(size <= 0 for size in hidden_sizes):
            raise ConfigurationError(f"hidden_sizes must be positive, got {hidden_sizes}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigurationError(f"dropout must be in [0, 1), got {dropout}")
        if dropout_mask not in _DROPOUT_MASKS:
            raise ConfigurationError(
                f"dropout_mask must be one of {list(_DROPOUT_MASKS)}, got {dropout_mask!r}"
            )
        if lm_dim < 0:
            raise ConfigurationError(f"lm_dim must be >= 0, got {lm_dim}")
        if lm_dim > 0 and lm_injection_layer is None:
            raise ConfigurationError(
                f"lm_dim is {lm_dim} but lm_injection_layer is not set: choose where the LM "
                f"embeddings are concatenated (0 .. {len(hidden_sizes)})"
            )
        if lm_dim == 0 and lm_injection_layer is not None:
            raise ConfigurationError(
                f"lm_injection_layer is {lm_injection_layer} but lm_dim is 0: set lm_dim to the "
                "size of the LM embeddings, or remove lm_injection_layer for an encoder without LM"
            )
        if lm_injection_layer is not None and not 0 <= lm_injection_layer <= len(hidden_sizes):
            raise ConfigurationError(
                f"lm_injection_layer must be in 0 .. {len(hidden_sizes)} (the number of layers "
                f"in hidden_sizes), got {lm_injection_layer}"
            )
        if not hidden_sizes and lm_dim == 0:
            raise ConfigurationError(
                "hidden_sizes is empty and lm_dim is 0: the encoder would do nothing; give at "
                "least one RNN layer, or LM embeddings (lm_dim, lm_injection_layer 0) for the "
                "encoder without task RNN"
            )

        self._input_size = input_size
        self._lm_dim = lm_dim
        self._lm_injection_layer = lm_injection_layer
        self._dropout = torch.nn.Dropout(dropout)
        self._dropout_mask = dropout_mask

        layers = []
        layer_input_size = input_size
        for index, hidden_size in enumerate(hidden_sizes):
            if index == lm_injection_layer:
                layer_input_size += lm_dim
            layers.append(_BiRnnLayer(cell, layer_input_size, hidden_size))
            layer_input_size = 2 * hidden_size
        self._layers = torch.nn.ModuleList(layers)
        self._output_dim = layer_input_size + (
            lm_dim if lm_injection_layer == len(hidden_sizes) else 0
        )

    @property
    def lm_dim(self) -> int:
        """Size of the LM embeddings this encoder expects; 0 when it takes none."""
        return self._lm_dim

    def get_input_dim(self) -> int:
        return self._input_size

    def get_output_dim(self) -> int:
        return self._output_dim

    def is_bidirectional(self) -> bool:
        # The output is `[forward; backward]` halves only when it is the last RNN layer's.
        return bool(self._layers) and self._lm_injection_layer != len(self._layers)

    def forward(
        self,
        inputs: torch.Tensor,
        mask: torch.BoolTensor,
        lm_embeddings: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """
        # Parameters

        inputs : `torch.Tensor`
            Token representations, `(batch_size, num_tokens, input_size)`.
        mask : `torch.BoolTensor`
            `(batch_size, num_tokens)`, `True` for real tokens.
        lm_embeddings : `torch.Tensor`, optional
            `(batch_size, num_tokens, lm_dim)`; required exactly when `lm_dim > 0`.

        # Returns

        `(batch_size, num_tokens, get_output_dim())`, zero at padded positions.
        """
        if self._lm_dim == 0 and lm_embeddings is not None:
            raise ConfigurationError(
                "lm_embeddings were passed to a taglm_birnn encoder with lm_dim 0: set lm_dim "
                "and lm_injection_layer in the encoder config"
            )
        if self._lm_dim > 0:
            if lm_embeddings is None:
                raise ConfigurationError(
                    f"this taglm_birnn encoder has lm_dim {self._lm_dim} but got no "
                    "lm_embeddings: configure the model's LM embedder, or set lm_dim to 0"
                )
            if lm_embeddings.size(-1) != self._lm_dim:
                raise ConfigurationError(
                    f"lm_dim is {self._lm_dim} but the LM embeddings have size "
                    f"{lm_embeddings.size(-1)} (shape {tuple(lm_embeddings.shape)})"
                )

        encoded = inputs
        alignment = _alignment(mask)
        for index, layer in enumerate(self._layers):
            if index == self._lm_injection_layer:
                encoded = torch.cat([encoded, lm_embeddings], dim=-1)
            encoded = layer(self._drop(encoded), alignment)
        if self._lm_injection_layer == len(self._layers):
            encoded = torch.cat([encoded, lm_embeddings], dim=-1)
        return encoded * mask.unsqueeze(-1)

    def _drop(self, inputs: torch.Tensor) -> torch.Tensor:
        """Dropout on a layer's input `(batch_size, num_tokens, size)`, by `dropout_mask`."""
        rate = self._dropout.p
        if self._dropout_mask == "token" or not self.training or rate == 0.0:
            return self._dropout(inputs)
        # The same kernel as the per-token path (which CUDA graphs capture), on one row a sentence.
        return inputs * self._dropout(inputs.new_ones(inputs.size(0), 1, inputs.size(-1)))


def check_lm_input(encoder: Seq2SeqEncoder, lm_embedder: Optional[TokenEmbedder]) -> None:
    """
    That a tagger's `encoder` takes the LM embeddings of its `lm_embedder`: an encoder with
    `lm_dim` (`taglm_birnn`) needs an embedder of that output size, and an embedder needs such
    an encoder.
    """
    lm_dim = getattr(encoder, "lm_dim", None)
    if lm_embedder is None and lm_dim:
        raise ConfigurationError(
            f"model.encoder.lm_dim is {lm_dim}, but model.lm_embedder is not set: configure "
            "the LM embedder, or remove lm_dim and lm_injection_layer from the encoder"
        )
    if lm_embedder is not None:
        if lm_dim is None:
            raise ConfigurationError(
                "model.lm_embedder needs an encoder that accepts LM embeddings "
                f"(model.encoder.type 'taglm_birnn'), not {type(encoder).__name__}"
            )
        dims = (lm_embedder.get_output_dim(), lm_dim)
        check_dimensions_match(*dims, "model.lm_embedder output dim", "model.encoder.lm_dim")
