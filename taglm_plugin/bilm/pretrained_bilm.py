from typing import Any, Dict, Optional

import torch


class PretrainedBiLm(torch.nn.Module):
    """
    The interface `frozen_bilm` reads a pretrained bidirectional language model through, whatever
    its file format.

    A `PretrainedBiLm` gives the hidden states of one layer for both of its directions, aligned
    with the input tokens: position `t` of the backward states is the backward LM's state at
    token `t`, even though that LM read the sentence right to left.

    Everything needed to rebuild it without its files is in `spec()`, a JSON-serializable dict
    (architecture, LM vocabulary, token indexer; never weights): `from_spec(spec)` builds the
    same modules with placeholder weights, which a `load_state_dict` then overwrites. This is
    how a model archive that contains a `frozen_bilm` loads without the LM files.
    """

    format_name: str
    """The `"format"` entry of `spec()`; `frozen_bilm` picks the class by it."""

    num_layers: int
    """Layers whose states `forward` can return: 0 is the token embedding, 1.. the LSTM layers."""

    supports_token_encoder_dtype: bool = True
    """Whether `forward` can run its token encoder in another precision (`token_encoder_dtype`)."""

    stateful: bool = False
    """Whether the LSTM states carry over from batch to batch, so that a sentence's states
    depend on the batches before it (and cannot be cached)."""

    def spec(self) -> Dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_spec(cls, spec: Dict[str, Any]) -> "PretrainedBiLm":
        raise NotImplementedError

    def layer_dims(self, layer: int) -> Dict[str, int]:
        """The dimension of each direction's states at `layer`, keyed `"forward"`/`"backward"`."""
        raise NotImplementedError

    def token_indexer_params(self) -> Dict[str, Any]:
        """The allennlp `TokenIndexer` config the tagger's reader must use for the LM's tokens."""
        raise NotImplementedError

    def vocabulary_namespaces(self) -> Dict[str, Dict[int, str]]:
        """
        Index-to-token maps of the vocabulary namespaces the LM's token indexer reads (empty for
        vocabulary-free indexers such as `elmo_characters`): the tagger's vocabulary must hold
        exactly these in the same namespaces, or the token ids would mean other words.
        """
        raise NotImplementedError

    def forward(  # type: ignore
        self,
        lm_tensors: Dict[str, torch.Tensor],
        layer: int,
        token_encoder_dtype: Optional[torch.dtype] = None,
    ) -> Dict[str, torch.Tensor]:
        """
        # Parameters

        lm_tensors : `Dict[str, torch.Tensor]`
            What the LM's token indexer produced for the batch, e.g. `{"elmo_tokens":
            (batch_size, num_tokens, 50)}`.
        layer : `int`
            Which layer, `-num_layers <= layer < num_layers`.
        token_encoder_dtype : `torch.dtype`, optional
            Autocast dtype of the LMs' token encoders (`LanguageModel.contextual_states`);
            a format that cannot run its token encoder in another precision refuses it
            (`ConfigurationError`).

        # Returns

        `{"forward": (batch_size, num_tokens, dim), "backward": (batch_size, num_tokens, dim)}`
        (only the directions the biLM has), zero at padding positions.
        """
        raise NotImplementedError
