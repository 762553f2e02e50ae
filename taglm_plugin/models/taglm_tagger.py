from typing import Any, Dict, List, Optional

import torch
from allennlp.common.checks import ConfigurationError, check_dimensions_match
from allennlp.data import Instance, TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.modules import Seq2SeqEncoder, TextFieldEmbedder, TokenEmbedder
from allennlp.nn import util
from allennlp_models.tagging.models.crf_tagger import CrfTagger

from taglm_plugin.data.data_collators import VectorizedDataCollator
from taglm_plugin.modules.conditional_random_field import FastConditionalRandomField
from taglm_plugin.training.metrics.conlleval_f1 import ConllevalF1Measure


@Model.register("taglm_tagger")
class TagLmTagger(CrfTagger):
    """
    The TagLM sequence tagger (Peters et al., 2017): token representations
    `[char encoder(c_k); word embedding(w_k)]` from `text_field_embedder`, a task encoder
    (for TagLM a `taglm_birnn` that concatenates the frozen biLM embedding from `lm_embedder`
    to the output of a chosen layer), a dense projection to tag scores and a CRF (forward-
    backward loss, constrained Viterbi decoding).

    It keeps `CrfTagger`'s behaviour and parameters (label encoding and constrained decoding,
    start/end transitions, `top_k`, `feedforward`, `dropout`, label weights) and changes:

    * `lm_embedder` (optional): a `TokenEmbedder` (usually `frozen_bilm`) applied to the
      `lm_tokens_key` entry of the `tokens` field, producing `(batch_size, num_tokens,
      lm_dim)`; every other entry goes to `text_field_embedder`. The encoder then receives
      `lm_embeddings=` and must accept it (`taglm_birnn` with a matching `lm_dim`).
    * The CRF is `FastConditionalRandomField` (same parameters and results as allennlp's,
      batched and without a loop over time steps on the GPU) unless `fast_crf` is false or
      `label_weights` asks for one of allennlp's weighted CRFs.
    * Span metrics are the conlleval-compatible `ConllevalF1Measure` (`precision-overall`,
      `recall-overall`, `f1-measure-overall`, `accuracy`, and per type at the end of each
      pass, or always with `verbose_metrics`); `conlleval_table_file` makes every metric
      reset (end of an epoch or of `allennlp evaluate`) also write conlleval's per-type table
      to that path.

    Without `lm_embedder` it is the paper's baseline tagger.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        encoder: Seq2SeqEncoder,
        lm_embedder: Optional[TokenEmbedder] = None,
        lm_tokens_key: str = "lm",
        label_namespace: str = "labels",
        label_encoding: Optional[str] = None,
        conlleval_table_file: Optional[str] = None,
        fast_crf: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(
            vocab,
            text_field_embedder,
            encoder,
            label_namespace=label_namespace,
            label_encoding=label_encoding,
            **kwargs,
        )
        if fast_crf and kwargs.get("label_weights") is None:
            # Same parameter names: the state (transitions, constraint mask) carries over.
            crf = FastConditionalRandomField(
                self.num_tags, include_start_end_transitions=self.include_start_end_transitions
            )
            crf.load_state_dict(self.crf.state_dict())
            self.crf = crf
        self.lm_embedder = lm_embedder
        self._lm_tokens_key = lm_tokens_key
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
            check_dimensions_match(
                lm_embedder.get_output_dim(),
                lm_dim,
                "model.lm_embedder output dim",
                "model.encoder.lm_dim",
            )
        # CrfTagger's CategoricalAccuracy metrics need one-hot "probabilities" built in a
        # Python loop; conlleval's token accuracy replaces them.
        self.metrics = {}
        self._conlleval = (
            ConllevalF1Measure(vocab, label_namespace, table_file=conlleval_table_file)
            if self.calculate_span_f1
            else None
        )

    def forward(  # type: ignore
        self,
        tokens: TextFieldTensors,
        tags: torch.LongTensor = None,
        metadata: List[Dict[str, Any]] = None,
        **kwargs,
    ) -> Dict[str, Any]:
        """
        # Parameters

        tokens : `TextFieldTensors`
            The tagger's indexers (e.g. `tokens`, `token_characters`) and, with an
            `lm_embedder`, the LM's indexer under `lm_tokens_key`.
        tags : `torch.LongTensor`, optional
            Gold tag ids, `(batch_size, num_tokens)`.
        metadata : `List[Dict[str, Any]]`, optional
            `{"words": [...]}` per sentence.

        # Returns

        `logits` `(batch_size, num_tokens, num_tags)`, `mask` `(batch_size, num_tokens)`,
        `tags` (the Viterbi tag ids, one list per sentence), `top_k_tags` when `top_k > 1`,
        `loss` (negative CRF log-likelihood summed over the batch) when `tags` are given,
        and `words` when `metadata` is given.
        """
        mask = util.get_text_field_mask(tokens)
        encoder_kwargs = {}
        if self.lm_embedder is not None:
            if self._lm_tokens_key not in tokens:
                raise ConfigurationError(
                    f"model.lm_tokens_key is {self._lm_tokens_key!r}, but the dataset reader's "
                    f"token_indexers produce only {sorted(tokens)}: add the LM's token indexer "
                    f"under the key {self._lm_tokens_key!r}"
                )
            tokens = dict(tokens)
            encoder_kwargs["lm_embeddings"] = self.lm_embedder(**tokens.pop(self._lm_tokens_key))
        embedded_text_input = self.text_field_embedder(tokens)
        if self.dropout:
            embedded_text_input = self.dropout(embedded_text_input)
        encoded_text = self.encoder(embedded_text_input, mask, **encoder_kwargs)
        if self.dropout:
            encoded_text = self.dropout(encoded_text)
        if self._feedforward is not None:
            encoded_text = self._feedforward(encoded_text)
        logits = self.tag_projection_layer(encoded_text)

        # With an explicit top_k the CRF returns the k best (path, score) pairs per sentence.
        best_paths = self.crf.viterbi_tags(logits, mask, top_k=self.top_k)
        predicted_tags = [paths[0][0] for paths in best_paths]
        output: Dict[str, Any] = {"logits": logits, "mask": mask, "tags": predicted_tags}
        if self.top_k > 1:
            output["top_k_tags"] = best_paths

        if tags is not None:
            crf_mask = mask
            if self.ignore_loss_on_o_tags:
                o_tag_index = self.vocab.get_token_index("O", namespace=self.label_namespace)
                crf_mask = mask & (tags != o_tag_index)
            output["loss"] = -self.crf(logits, tags, crf_mask)
            if self._conlleval is not None:
                self._conlleval(predicted_tags, tags, mask)
        if metadata is not None:
            output["words"] = [x["words"] for x in metadata]
        return output

    def forward_on_instances(self, instances: List[Instance]) -> List[Dict[str, Any]]:
        """
        `Model.forward_on_instances` (what predictors call): one output dictionary per
        instance, tensors as numpy arrays, from `forward` and `make_output_human_readable`
        without gradients. The instances are batched by `VectorizedDataCollator`, several
        times faster than allennlp's per-instance padding.
        """
        batch_size = len(instances)
        with torch.no_grad():
            for instance in instances:
                instance.index_fields(self.vocab)
            model_input = util.move_to_device(
                VectorizedDataCollator()(instances), self._get_prediction_device()
            )
            outputs = self.make_output_human_readable(self(**model_input))
        separated: List[Dict[str, Any]] = [{} for _ in instances]
        for name, output in outputs.items():
            if isinstance(output, torch.Tensor):
                if output.dim() == 0:  # the loss: kept for one instance, as allennlp does
                    output = output.unsqueeze(0)
                if output.size(0) != batch_size:
                    self._maybe_warn_for_unseparable_batches(name)
                    continue
                output = output.cpu().numpy()
            elif len(output) != batch_size:
                self._maybe_warn_for_unseparable_batches(name)
                continue
            for instance_output, element in zip(separated, output):
                instance_output[name] = element
        return separated

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        if self._conlleval is None:
            return {}
        metrics = self._conlleval.get_metric(reset=reset)
        # Per-type figures at the end of an epoch or evaluation; while a pass is running (the
        # progress bar) only with `verbose_metrics`.
        if reset or self._verbose_metrics:
            return metrics
        return {
            name: value
            for name, value in metrics.items()
            if name.endswith("-overall") or name == "accuracy"
        }

    default_predictor = "taglm_tagger"
