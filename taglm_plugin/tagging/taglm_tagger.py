import logging
from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError, check_dimensions_match
from allennlp.common.util import is_distributed
from allennlp.data import Instance, TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.modules import Seq2SeqEncoder, TextFieldEmbedder, TokenEmbedder
from allennlp.modules.conditional_random_field import ConditionalRandomField
from allennlp.nn import util
from allennlp_models.tagging.models.crf_tagger import CrfTagger

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.speed.vectorized_data_collator import VectorizedDataCollator
from taglm_plugin.tagging.gold_tag_field import UNSEEN_TAG_ID
from taglm_plugin.speed.conditional_random_field import FastConditionalRandomField
from taglm_plugin.speed.cuda_graphs import CudaGraphCache, GraphedLoss, cuda_graphs_usable
from taglm_plugin.tagging.taglm_word_embedding import (
    TaglmWordEmbedding,
    word_kinds,
)
from taglm_plugin.tagging.conlleval_f1 import ConllevalF1Measure
from taglm_plugin.tagging.word_kind_shares import WordKindShares

logger = logging.getLogger(__name__)

# The layers from the token representations to the CRF's loss (the "graphed modules"); on the
# GPU they run as one CUDA graph per batch shape (in training forward and backward).
_GRAPHED_MODULES = ("encoder", "_feedforward", "tag_projection_layer", "crf")
# Batches of up to this many tokens (batch size x padded length) run as graphs; for larger
# ones the GPU's arithmetic, not the launching of kernels, takes the time.
CUDA_GRAPH_MAX_TOKENS = 64 * 128
# Graphs kept per mode (training, evaluation), least recently used dropped first; the graphs
# of one mode share one memory pool, in which a training graph keeps what its backward pass
# needs.
CUDA_GRAPHS_KEPT = 48


@Model.register("taglm_tagger")
class TagLmTagger(ChecksConfigKeys, CrfTagger):
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
    * With a `taglm_word_embedding` in `text_field_embedder`, evaluation (not training) also
      reports which word vectors the tokens used (`WordKindShares`: `words-training`,
      `words-pretrained`, `words-unknown`, and `span-words-*` for the tokens of gold spans).
    * `cuda_graphs` (default true): on the GPU, with the fast CRF, when the loss is computed
      (gold tags given) in training with gradients or in evaluation without, the layers from
      the token representations to the loss (dropout, encoder, feedforward, projection, CRF
      log-likelihood) run as one CUDA graph per batch shape (batch size, length padded to a
      multiple of `cuda_graph_length_multiple`, default 8, so that few shapes are captured),
      for batches of up to `CUDA_GRAPH_MAX_TOKENS` tokens; in training a second graph per
      shape is the backward pass. At these sizes the kernels take microseconds and launching
      them one by one from Python took most of a training step. Results are those of the
      eager computation (in training, dropout draws other random numbers). Two training
      forward passes before one backward pass raise an error; switch `cuda_graphs` off for
      that. In distributed training the model switches `cuda_graphs` off (with a warning) at
      its first batch that would use them: the graphs have not been verified under DDP, whose
      gradient all-reduce hooks would see the graphed parameters' gradients only when the
      backward graph has replayed.
    * `ignore_loss_on_o_tags` gives `CrfTagger`'s loss, except that a sentence whose tags
      are all `O` adds 0 to it (`CrfTagger` fails on such a sentence).

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
        cuda_graphs: bool = True,
        cuda_graph_length_multiple: int = 8,
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
        if cuda_graph_length_multiple < 1:
            raise ConfigurationError(
                f"model.cuda_graph_length_multiple must be >= 1, got {cuda_graph_length_multiple}"
            )
        self.cuda_graphs = cuda_graphs
        self._cuda_graph_length_multiple = cuda_graph_length_multiple
        self._training_graphs = CudaGraphCache(
            self._graphed_loss, CUDA_GRAPHS_KEPT, shared_pool=True, training=True
        )
        self._evaluation_graphs = CudaGraphCache(
            self._graphed_loss, CUDA_GRAPHS_KEPT, shared_pool=True
        )
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
        # The key of the `tokens` entry that a taglm_word_embedding embeds.
        self._word_key = next(
            (
                key
                for key, embedder in getattr(text_field_embedder, "_token_embedders", {}).items()
                if isinstance(embedder, TaglmWordEmbedding)
            ),
            None,
        )
        self._word_kind_shares = WordKindShares()

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
            Gold tag ids, `(batch_size, num_tokens)`. In evaluation, `UNSEEN_TAG_ID` marks a
            gold tag the vocabulary lacks (`GoldTagField`): the metric scores it by its name
            in `metadata`, the loss counts it as `O`.
        metadata : `List[Dict[str, Any]]`, optional
            `{"words": [...]}` per sentence, and `"tags"`, the gold tags by name.

        # Returns

        `logits` `(batch_size, num_tokens, num_tags)`, `mask` `(batch_size, num_tokens)`,
        `tags` (the Viterbi tag ids, one list per sentence), `top_k_tags` when `top_k > 1`,
        `loss` (negative CRF log-likelihood summed over the batch) when `tags` are given,
        and `words` when `metadata` is given.
        """
        mask = util.get_text_field_mask(tokens)
        lm_embeddings = None
        if self.lm_embedder is not None:
            if self._lm_tokens_key not in tokens:
                raise ConfigurationError(
                    f"model.lm_tokens_key is {self._lm_tokens_key!r}, but the dataset reader's "
                    f"token_indexers produce only {sorted(tokens)}: add the LM's token indexer "
                    f"under the key {self._lm_tokens_key!r}"
                )
            tokens = dict(tokens)
            lm_embeddings = self.lm_embedder(**tokens.pop(self._lm_tokens_key))
        embedded_text_input = self.text_field_embedder(tokens)
        unseen_gold_tags = None
        if not self.training:
            if self._word_key is not None:
                self._count_word_kinds(tokens[self._word_key], mask, tags)
            if tags is not None:
                tags, unseen_gold_tags = self._unseen_gold_tags(tags, metadata)
        loss = None
        graph_length = self._cuda_graph_length(embedded_text_input, tags, lm_embeddings)
        if graph_length is None:
            logits = self._tag_logits(embedded_text_input, mask, lm_embeddings)
        else:
            loss, logits = self._graphed_loss_and_logits(
                graph_length, embedded_text_input, mask, tags, lm_embeddings
            )

        # With an explicit top_k the CRF returns the k best (path, score) pairs per sentence.
        best_paths = self.crf.viterbi_tags(logits, mask, top_k=self.top_k)
        predicted_tags = [paths[0][0] for paths in best_paths]
        output: Dict[str, Any] = {"logits": logits, "mask": mask, "tags": predicted_tags}
        if self.top_k > 1:
            output["top_k_tags"] = best_paths

        if tags is not None:
            if loss is None and self.ignore_loss_on_o_tags:
                loss = -self._log_likelihood_ignoring_o_tags(logits, tags, mask)
            elif loss is None:
                loss = -self.crf(logits, tags, mask)
            output["loss"] = loss
            if self._conlleval is not None:
                self._conlleval(predicted_tags, tags, mask, unseen_gold_tags)
        if metadata is not None:
            output["words"] = [x["words"] for x in metadata]
        return output

    def _count_word_kinds(
        self,
        word_ids: Dict[str, torch.LongTensor],
        mask: torch.BoolTensor,
        tags: Optional[torch.LongTensor],
    ) -> None:
        """
        Counts the kinds of word vectors of the batch's tokens (`word_ids`: the
        `normalized_single_id` indexer's `tokens` and `pretrained_tokens`, each `(batch_size,
        num_tokens)`), among all of them and among those whose gold tag is not `O`.
        """
        if "pretrained_tokens" not in word_ids:
            return  # the embedder raises the configuration error
        kinds = word_kinds(word_ids["tokens"], word_ids["pretrained_tokens"])
        span_mask = None
        if tags is not None:
            tag_ids = self.vocab.get_token_to_index_vocabulary(self.label_namespace)
            span_mask = tags != tag_ids.get("O", UNSEEN_TAG_ID - 1)
        self._word_kind_shares(kinds, mask, span_mask)

    def _unseen_gold_tags(
        self, tags: torch.LongTensor, metadata: Optional[List[Dict[str, Any]]]
    ) -> Tuple[torch.LongTensor, Optional[List[Dict[int, str]]]]:
        """
        `tags` `(batch_size, num_tokens)` with the gold tags outside the vocabulary
        (`UNSEEN_TAG_ID`) replaced by `O` (tag 0 without an `O` tag), and those tags by name,
        `{position: tag}` per sentence, from `metadata` (`None` when there are none). Training
        tags are the vocabulary's: it is built from them.
        """
        unseen = tags == UNSEEN_TAG_ID
        if not unseen.any():
            return tags, None
        if metadata is None or any("tags" not in sentence for sentence in metadata):
            raise ConfigurationError(
                "the batch has gold tags outside the model's tag vocabulary, but its metadata "
                "does not name them (\"tags\"): read the data with the taglm_conll reader"
            )
        names: List[Dict[int, str]] = [{} for _ in metadata]
        for sentence, position in unseen.nonzero().tolist():
            names[sentence][position] = metadata[sentence]["tags"][position]
        tag_ids = self.vocab.get_token_to_index_vocabulary(self.label_namespace)
        return tags.masked_fill(unseen, tag_ids.get("O", 0)), names

    def _log_likelihood_ignoring_o_tags(
        self, logits: torch.Tensor, tags: torch.LongTensor, mask: torch.BoolTensor
    ) -> torch.Tensor:
        """
        `CrfTagger`'s log-likelihood with `ignore_loss_on_o_tags` (a scalar, summed over the
        batch), for `logits` `(batch_size, num_tokens, num_tags)`, `tags` and `mask`
        `(batch_size, num_tokens)`: allennlp's CRF computation with the `O` tokens masked out.
        That mask is not left-aligned, which `FastConditionalRandomField` assumes, so its
        sentences go through allennlp's own `ConditionalRandomField.forward`. A sentence of
        only `O` tags adds 0: its mask is all False, on which allennlp's CRF fails (it gathers
        the tag of the last unmasked token, at index -1).
        """
        o_tag_index = self.vocab.get_token_index("O", namespace=self.label_namespace)
        crf_mask = mask & (tags != o_tag_index)
        with_spans = crf_mask.any(1)
        inputs = (logits[with_spans], tags[with_spans], crf_mask[with_spans])
        if isinstance(self.crf, FastConditionalRandomField):
            return ConditionalRandomField.forward(self.crf, *inputs)
        return self.crf(*inputs)

    def _tag_logits(
        self, embedded: torch.Tensor, mask: torch.BoolTensor, lm_embeddings: Optional[torch.Tensor]
    ) -> torch.Tensor:
        """
        Tag scores `(batch_size, num_tokens, num_tags)` from the token representations
        `embedded` `(batch_size, num_tokens, embedding_dim)`: dropout, encoder (with
        `lm_embeddings` `(batch_size, num_tokens, lm_dim)` when given), dropout, feedforward,
        projection.
        """
        if self.dropout:
            embedded = self.dropout(embedded)
        encoder_kwargs = {} if lm_embeddings is None else {"lm_embeddings": lm_embeddings}
        encoded = self.encoder(embedded, mask, **encoder_kwargs)
        if self.dropout:
            encoded = self.dropout(encoded)
        if self._feedforward is not None:
            encoded = self._feedforward(encoded)
        return self.tag_projection_layer(encoded)

    def _graphed_parameters(self) -> List[torch.nn.Parameter]:
        """The trainable parameters of the graphed modules."""
        return [
            parameter
            for module_name in _GRAPHED_MODULES
            if getattr(self, module_name) is not None
            for parameter in getattr(self, module_name).parameters()
            if parameter.requires_grad
        ]

    def _cuda_graph_length(
        self,
        embedded: torch.Tensor,
        tags: Optional[torch.Tensor],
        lm_embeddings: Optional[torch.Tensor],
    ) -> Optional[int]:
        """
        The padded length of the graph that computes the loss and logits of this batch, `None`
        when they are computed eagerly (no tags, training without gradients or evaluation with
        them, not on the GPU, allennlp's CRF, the loss restricted to non-O tags, trainable LM
        embeddings, batches over `CUDA_GRAPH_MAX_TOKENS` tokens).
        """
        if (
            tags is None
            or not self.cuda_graphs
            or self.training != torch.is_grad_enabled()
            or not cuda_graphs_usable(embedded)
            or not isinstance(self.crf, FastConditionalRandomField)
            or self.ignore_loss_on_o_tags
            or (lm_embeddings is not None and lm_embeddings.requires_grad)
        ):
            return None
        if is_distributed():
            self.cuda_graphs = False
            logger.warning(
                "model.cuda_graphs switched off: CUDA graphs are not verified under distributed "
                "training (DDP); the layers run eagerly"
            )
            return None
        multiple = self._cuda_graph_length_multiple
        length = -(-embedded.size(1) // multiple) * multiple
        return length if embedded.size(0) * length <= CUDA_GRAPH_MAX_TOKENS else None

    def _graphed_loss_and_logits(
        self,
        length: int,
        embedded: torch.Tensor,
        mask: torch.BoolTensor,
        tags: torch.LongTensor,
        lm_embeddings: Optional[torch.Tensor],
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        The loss (negative log-likelihood summed over the batch) and the logits
        `(batch_size, num_tokens, num_tags)`, by the graph for the batch padded to `length`
        tokens; in training the loss's backward pass replays the shape's backward graph.
        """
        parameters = self._graphed_parameters()
        inputs = [embedded, mask, tags] + ([] if lm_embeddings is None else [lm_embeddings])
        shape = (embedded.size(0), length)
        key = (
            shape,
            embedded.dtype,
            embedded.device,
            None if lm_embeddings is None else lm_embeddings.size(-1),
            tuple(parameter.data_ptr() for parameter in parameters),
        )

        def examples() -> List[torch.Tensor]:
            return [tensor.new_empty(shape + tensor.shape[2:]) for tensor in inputs]

        if self.training:
            graph = self._training_graphs.graph(key, examples)
            loss, logits = GraphedLoss.apply(graph, *inputs, *parameters)
        else:
            loss, (logits,), _ = self._evaluation_graphs(key, examples, *inputs)
            loss, logits = loss.clone(), logits.clone()  # the next call overwrites them
        return loss, logits[:, : embedded.size(1)]

    def _graphed_loss(
        self,
        embedded: torch.Tensor,
        mask: torch.BoolTensor,
        tags: torch.LongTensor,
        *lm_embeddings: torch.Tensor,
    ) -> Tuple[torch.Tensor, Tuple[torch.Tensor], List[Optional[torch.Tensor]]]:
        """
        What the graphs capture: the loss (`-log p(tags)` summed over the batch), the logits,
        and in training the targets of `TrainingCudaGraph` for the inputs `(embedded, mask,
        tags, *lm_embeddings, *parameters)`, `parameters` those of `_graphed_parameters()` (in
        evaluation no targets). A graph reads the parameters in place, so it must be captured
        again when they move.
        """
        if self.training:
            embedded = embedded.detach().requires_grad_()
        logits = self._tag_logits(embedded, mask, next(iter(lm_embeddings), None))
        loss = -self.crf(logits, tags, mask)
        if not self.training:
            return loss, (logits,), []
        targets = [embedded, None, None] + [None] * len(lm_embeddings)
        return loss, (logits.detach(),), targets + self._graphed_parameters()

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
                # A collator per call: a cache of its rows could serve no later call.
                VectorizedDataCollator(max_cache_bytes=0)(instances),
                self._get_prediction_device(),
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

    def word_kind_shares(self) -> Dict[str, float]:
        """Which word vectors the tokens evaluated since the last reset used (`WordKindShares`)."""
        return self._word_kind_shares.get_metric()

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {}
        if self._conlleval is not None:
            metrics = self._conlleval.get_metric(reset=reset)
            # Per-type figures at the end of an epoch or evaluation; while a pass is running
            # (the progress bar) only with `verbose_metrics`.
            if not (reset or self._verbose_metrics):
                metrics = {
                    name: value
                    for name, value in metrics.items()
                    if name.endswith("-overall") or name == "accuracy"
                }
        if reset or self._verbose_metrics:
            metrics.update(self._word_kind_shares.get_metric(reset=reset))
        return metrics

    default_predictor = "taglm_tagger"

