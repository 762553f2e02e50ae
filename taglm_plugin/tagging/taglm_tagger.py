from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance, TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.modules import Seq2SeqEncoder, TextFieldEmbedder, TokenEmbedder
from allennlp.nn import util
from allennlp_models.tagging.models.crf_tagger import CrfTagger

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.speed.tagger_fast_paths import TaggerFastPaths
from taglm_plugin.tagging.conlleval_f1 import ConllevalF1Measure
from taglm_plugin.tagging.gold_tag_field import unseen_gold_tags
from taglm_plugin.tagging.taglm_birnn import check_lm_input
from taglm_plugin.tagging.taglm_word_embedding import TaglmWordEmbedding, word_kinds
from taglm_plugin.tagging.word_kind_shares import WordKindShares


@Model.register("taglm_tagger")
class TagLmTagger(ChecksConfigKeys, CrfTagger):
    """
    The TagLM sequence tagger (Peters et al., 2017): allennlp-models' `CrfTagger` (embedder,
    encoder, projection to tag scores, CRF with constrained decoding; its parameters and
    behaviour) plus the LM injection. `lm_embedder` (optional, usually `frozen_bilm`) embeds the
    `lm_tokens_key` entry of the `tokens` field as `(batch_size, num_tokens, lm_dim)`, which the
    encoder takes as `lm_embeddings=` (`taglm_birnn` concatenates them to the output of one of
    its layers). Without `lm_embedder` it is the paper's baseline tagger.

    It also differs from `CrfTagger` in:

    * Metrics: conlleval's (`ConllevalF1Measure`: `precision-overall`, `recall-overall`,
      `f1-measure-overall`, `accuracy`, per type at the end of a pass or always with
      `verbose_metrics`; `conlleval_table_file` gets conlleval's table at every reset), and in
      evaluation with a `taglm_word_embedding` the word vectors used (`WordKindShares`).
    * Speed (`TaggerFastPaths`): the CRF is `FastConditionalRandomField` unless `fast_crf` is
      false or `label_weights` asks for a weighted CRF; on the GPU the layers from the token
      representations to the loss run as CUDA graphs (batch lengths padded to a multiple of
      `cuda_graph_length_multiple`). `cuda_graphs` false switches every graph off, the CRF's too.
    * `ignore_loss_on_o_tags` (config or per call): a sentence of only `O` tags adds 0 to the
      loss (`CrfTagger` fails on it).
    * Gold tags outside the tag vocabulary (`UNSEEN_TAG_ID`, evaluation only) are scored by
      their names in `metadata`; the loss counts them as `O`.
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
        check_lm_input(encoder, lm_embedder)
        self.lm_embedder = lm_embedder
        self._lm_tokens_key = lm_tokens_key
        self._fast_paths = TaggerFastPaths(
            self._tag_logits, self._loss_modules, cuda_graphs, cuda_graph_length_multiple
        )
        if fast_crf and kwargs.get("label_weights") is None:
            self.crf = self._fast_paths.fast_crf(self.crf)
        # The `O` tag's id, `None` without one (what an unseen gold tag counts as: `O` or 0).
        self._o_tag = vocab.get_token_to_index_vocabulary(label_namespace).get("O")
        self._o_tag_or_0 = 0 if self._o_tag is None else self._o_tag
        self.metrics = {}  # CrfTagger's accuracies; conlleval's token accuracy replaces them
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

    @property
    def cuda_graphs(self) -> bool:
        return self._fast_paths.cuda_graphs

    @cuda_graphs.setter
    def cuda_graphs(self, value: bool) -> None:
        self._fast_paths.cuda_graphs = value

    def forward(  # type: ignore
        self,
        tokens: TextFieldTensors,
        tags: torch.LongTensor = None,
        metadata: List[Dict[str, Any]] = None,
        ignore_loss_on_o_tags: Optional[bool] = None,
    ) -> Dict[str, Any]:
        """
        `CrfTagger.forward`, with the LM's token ids under `lm_tokens_key` in `tokens`, gold
        tags possibly `UNSEEN_TAG_ID` in evaluation (named in `metadata`'s `"tags"`), and no
        further arguments. Returns `logits`, `mask`, `tags` (the Viterbi tag ids), `top_k_tags`
        when `top_k > 1`, `loss` when `tags` are given, `words` when `metadata` is.
        """
        if ignore_loss_on_o_tags is None:
            ignore_loss_on_o_tags = self.ignore_loss_on_o_tags
        mask = util.get_text_field_mask(tokens)
        tokens, lm_embeddings = self._embed_lm_tokens(tokens)
        embedded = self.text_field_embedder(tokens)
        unseen = None
        if not self.training:
            if self._word_key is not None:
                self._count_word_kinds(tokens[self._word_key], mask, tags)
            if tags is not None:
                # Training tags are the vocabulary's: it is built from them.
                tags, unseen = unseen_gold_tags(tags, metadata, self._o_tag_or_0)

        graphed = None
        if tags is not None and not ignore_loss_on_o_tags:
            graphed = self._fast_paths.loss_and_logits(
                embedded, mask, tags, lm_embeddings, self.training
            )
        loss, logits = graphed or (None, self._tag_logits(embedded, mask, lm_embeddings))
        best_paths = self.crf.viterbi_tags(logits, mask, top_k=self.top_k)
        predicted_tags = [paths[0][0] for paths in best_paths]
        output: Dict[str, Any] = {"logits": logits, "mask": mask, "tags": predicted_tags}
        if self.top_k > 1:
            output["top_k_tags"] = best_paths
        if tags is not None:
            if loss is None and ignore_loss_on_o_tags:
                loss = -self._log_likelihood_ignoring_o_tags(logits, tags, mask)
            elif loss is None:
                loss = -self.crf(logits, tags, mask)
            output["loss"] = loss
            if self._conlleval is not None:
                self._conlleval(predicted_tags, tags, mask, unseen)
        if metadata is not None:
            output["words"] = [x["words"] for x in metadata]
        return output

    def _embed_lm_tokens(
        self, tokens: TextFieldTensors
    ) -> Tuple[TextFieldTensors, Optional[torch.Tensor]]:
        """The TagLM step: `tokens` without the LM's entry, and the LM embeddings of that."""
        if self.lm_embedder is None:
            return tokens, None
        if self._lm_tokens_key not in tokens:
            raise ConfigurationError(
                f"model.lm_tokens_key is {self._lm_tokens_key!r}, but the dataset reader's "
                f"token_indexers produce only {sorted(tokens)}: add the LM's token indexer "
                f"under the key {self._lm_tokens_key!r}"
            )
        tokens = dict(tokens)
        return tokens, self.lm_embedder(**tokens.pop(self._lm_tokens_key))

    def _count_word_kinds(
        self,
        word_ids: Dict[str, torch.LongTensor],
        mask: torch.BoolTensor,
        tags: Optional[torch.LongTensor],
    ) -> None:
        """The kinds of word vectors of the tokens (`normalized_single_id`'s tensors), of all
        and of those whose gold tag is not `O`."""
        if "pretrained_tokens" not in word_ids:
            return  # the embedder raises the configuration error
        kinds = word_kinds(word_ids["tokens"], word_ids["pretrained_tokens"])
        span_mask = None if tags is None else self._not_o(tags, mask)
        self._word_kind_shares(kinds, mask, span_mask)

    def _not_o(self, tags: torch.LongTensor, mask: torch.BoolTensor) -> torch.BoolTensor:
        """`mask` without the tokens whose tag is `O`."""
        return mask if self._o_tag is None else mask & (tags != self._o_tag)

    def _log_likelihood_ignoring_o_tags(
        self, logits: torch.Tensor, tags: torch.LongTensor, mask: torch.BoolTensor
    ) -> torch.Tensor:
        """
        `CrfTagger`'s log-likelihood with `ignore_loss_on_o_tags` (a scalar, summed over the
        batch): the CRF's with the `O` tokens masked out (a mask that is not left-aligned,
        which both CRFs score as allennlp's does). A sentence of only `O` tags adds 0: its
        mask is all False, on which allennlp's CRF fails (it gathers the tag of the last
        unmasked token, at index -1).
        """
        crf_mask = self._not_o(tags, mask)
        with_spans = crf_mask.any(1)
        return self.crf(logits[with_spans], tags[with_spans], crf_mask[with_spans])

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

    def _loss_modules(self) -> List[Optional[torch.nn.Module]]:
        """The modules of `_tag_logits` and the CRF's loss."""
        return [self.encoder, self._feedforward, self.tag_projection_layer, self.crf]

    def forward_on_instances(self, instances: List[Instance]) -> List[Dict[str, Any]]:
        """`Model.forward_on_instances`, batched faster (`TaggerFastPaths`)."""
        return self._fast_paths.forward_on_instances(self, instances)

    @property
    def word_kind_metric(self) -> WordKindShares:
        """The metric that counts the word kinds of the tokens this model tags (a predictor's
        worker processes merge their counts into it)."""
        return self._word_kind_shares

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
