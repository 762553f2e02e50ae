"""
The fast paths of `taglm_tagger` (`taglm_plugin.tagging.taglm_tagger`), its one hook into
this package: the batched CRF, the layers from the token representations to the CRF's loss run
as CUDA graphs, and batching for prediction by the vectorized collator. None of them changes
a result (up to float rounding).
"""
import functools
import logging
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import is_distributed
from allennlp.data import Instance
from allennlp.models import Model
from allennlp.modules.conditional_random_field import ConditionalRandomField
from allennlp.nn.util import move_to_device

from taglm_plugin.speed.conditional_random_field import FastConditionalRandomField
from taglm_plugin.speed.cuda_graphs import CudaGraphCache, GraphedLoss, cuda_graphs_usable
from taglm_plugin.speed.vectorized_data_collator import VectorizedDataCollator

logger = logging.getLogger(__name__)

# Batches of up to this many tokens (batch size x padded length) run as graphs; for larger
# ones the GPU's arithmetic, not the launching of kernels, takes the time.
CUDA_GRAPH_MAX_TOKENS = 64 * 128
# Graphs kept per mode (training, evaluation), least recently used dropped first; the graphs
# of one mode share one memory pool, in which a training graph keeps what its backward pass
# needs.
CUDA_GRAPHS_KEPT = 48

# The tagger's layers from its token representations to tag scores: `(embedded, mask,
# lm_embeddings or None) -> logits`.
TagLogits = Callable[[torch.Tensor, torch.BoolTensor, Optional[torch.Tensor]], torch.Tensor]


class TaggerFastPaths:
    """
    The tagger's loss `-log p(tags)` and logits by CUDA graphs, one per batch shape (batch
    size, length padded to a multiple of `length_multiple`), for batches of up to
    `CUDA_GRAPH_MAX_TOKENS` tokens: in training a forward and a backward graph, in evaluation
    one without gradients. A graph runs `tag_logits` (dropout, encoder, feedforward,
    projection) and the CRF's log-likelihood; at these sizes the kernels take microseconds and
    launching them one by one from Python took most of a training step. Results are those of
    the eager computation (in training, dropout draws other random numbers). Two training
    forward passes before one backward pass raise an error; switch `cuda_graphs` off for that.

    `cuda_graphs` is the switch for every graph of the tagger, the CRF's own included (see
    `FastConditionalRandomField`). In distributed training the tagger's graphs switch off
    (with a warning) at the first batch that would use them: they have not been verified under
    DDP, whose gradient all-reduce hooks would see the graphed parameters' gradients only when
    the backward graph has replayed.

    `tag_logits` is the tagger's computation, `modules` the modules it and the CRF use (their
    trainable parameters are the graphs' inputs besides the batch).
    """

    def __init__(
        self,
        tag_logits: TagLogits,
        modules: Callable[[], Sequence[Optional[torch.nn.Module]]],
        cuda_graphs: bool,
        length_multiple: int,
    ) -> None:
        if length_multiple < 1:
            raise ConfigurationError(
                f"model.cuda_graph_length_multiple must be >= 1, got {length_multiple}"
            )
        self._tag_logits = tag_logits
        self._modules = modules
        self._crf: Optional[FastConditionalRandomField] = None
        self._cuda_graphs = cuda_graphs
        self._distributed = False
        self.length_multiple = length_multiple
        self.training_graphs = CudaGraphCache(
            functools.partial(self._graphed_loss, True),
            CUDA_GRAPHS_KEPT,
            shared_pool=True,
            training=True,
        )
        self.evaluation_graphs = CudaGraphCache(
            functools.partial(self._graphed_loss, False), CUDA_GRAPHS_KEPT, shared_pool=True
        )

    @property
    def cuda_graphs(self) -> bool:
        return self._cuda_graphs

    @cuda_graphs.setter
    def cuda_graphs(self, value: bool) -> None:
        self._cuda_graphs = value
        if self._crf is not None:
            self._crf.cuda_graphs = value

    def fast_crf(self, crf: ConditionalRandomField) -> FastConditionalRandomField:
        """`crf` as a `FastConditionalRandomField` with its state (same parameter names)."""
        fast = FastConditionalRandomField(
            crf.num_tags,
            include_start_end_transitions=crf.include_start_end_transitions,
            cuda_graphs=self._cuda_graphs,
        )
        fast.load_state_dict(crf.state_dict())
        self._crf = fast
        return fast

    def loss_and_logits(
        self,
        embedded: torch.Tensor,
        mask: torch.BoolTensor,
        tags: torch.LongTensor,
        lm_embeddings: Optional[torch.Tensor],
        training: bool,
    ) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """
        The loss (negative log-likelihood summed over the batch) and the logits `(batch_size,
        num_tokens, num_tags)` by a graph; `None` when they are to be computed eagerly (not
        on the GPU, graphs off, allennlp's CRF, training without gradients or evaluation with
        them, trainable LM embeddings, batches over `CUDA_GRAPH_MAX_TOKENS` tokens). In
        training the loss's backward pass replays the shape's backward graph.
        """
        length = self._graph_length(embedded, lm_embeddings, training)
        if length is None:
            return None
        parameters = self._parameters()
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

        if training:
            graph = self.training_graphs.graph(key, examples)
            loss, logits = GraphedLoss.apply(graph, *inputs, *parameters)
        else:
            loss, (logits,), _ = self.evaluation_graphs(key, examples, *inputs)
            loss, logits = loss.clone(), logits.clone()  # the next call overwrites them
        return loss, logits[:, : embedded.size(1)]

    @staticmethod
    def forward_on_instances(model: Model, instances: List[Instance]) -> List[Dict[str, Any]]:
        """
        `Model.forward_on_instances` (what predictors call): one output dictionary per
        instance, tensors as numpy arrays, from `forward` and `make_output_human_readable`
        without gradients. The instances are batched by `VectorizedDataCollator`, several
        times faster than allennlp's per-instance padding.
        """
        batch_size = len(instances)
        with torch.no_grad():
            for instance in instances:
                instance.index_fields(model.vocab)
            model_input = move_to_device(
                # A collator per call: a cache of its rows could serve no later call.
                VectorizedDataCollator(max_cache_bytes=0)(instances),
                model._get_prediction_device(),
            )
            outputs = model.make_output_human_readable(model(**model_input))
        separated: List[Dict[str, Any]] = [{} for _ in instances]
        for name, output in outputs.items():
            if isinstance(output, torch.Tensor):
                if output.dim() == 0:  # the loss: kept for one instance, as allennlp does
                    output = output.unsqueeze(0)
                if output.size(0) != batch_size:
                    model._maybe_warn_for_unseparable_batches(name)
                    continue
                output = output.cpu().numpy()
            elif len(output) != batch_size:
                model._maybe_warn_for_unseparable_batches(name)
                continue
            for instance_output, element in zip(separated, output):
                instance_output[name] = element
        return separated

    def _graph_length(
        self, embedded: torch.Tensor, lm_embeddings: Optional[torch.Tensor], training: bool
    ) -> Optional[int]:
        """The padded length of this batch's graph, `None` when it runs eagerly."""
        if (
            not self._cuda_graphs
            or self._distributed
            or self._crf is None
            or training != torch.is_grad_enabled()
            or not cuda_graphs_usable(embedded)
            or (lm_embeddings is not None and lm_embeddings.requires_grad)
        ):
            return None
        if is_distributed():
            self._distributed = True
            logger.warning(
                "model.cuda_graphs: the tagger's CUDA graphs are switched off, as they are not "
                "verified under distributed training (DDP); the layers run eagerly"
            )
            return None
        multiple = self.length_multiple
        length = -(-embedded.size(1) // multiple) * multiple
        return length if embedded.size(0) * length <= CUDA_GRAPH_MAX_TOKENS else None

    def _parameters(self) -> List[torch.nn.Parameter]:
        """The trainable parameters of the graphed modules."""
        return [
            parameter
            for module in self._modules()
            if module is not None
            for parameter in module.parameters()
            if parameter.requires_grad
        ]

    def _graphed_loss(
        self,
        training: bool,
        embedded: torch.Tensor,
        mask: torch.BoolTensor,
        tags: torch.LongTensor,
        *lm_embeddings: torch.Tensor,
    ) -> Tuple[torch.Tensor, Tuple[torch.Tensor], List[Optional[torch.Tensor]]]:
        """
        What the graphs capture: the loss (`-log p(tags)` summed over the batch), the logits,
        and in training the targets of `TrainingCudaGraph` for the inputs `(embedded, mask,
        tags, *lm_embeddings, *parameters)`, `parameters` those of `_parameters()` (in
        evaluation no targets). A graph reads the parameters in place, so it must be captured
        again when they move.
        """
        if training:
            embedded = embedded.detach().requires_grad_()
        logits = self._tag_logits(embedded, mask, next(iter(lm_embeddings), None))
        loss = -self._crf.log_likelihood_without_graph(logits, tags, mask)
        if not training:
            return loss, (logits,), []
        targets = [embedded, None, None] + [None] * len(lm_embeddings)
        return loss, (logits.detach(),), targets + self._parameters()
