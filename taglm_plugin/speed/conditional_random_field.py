"""
A drop-in replacement for allennlp's `ConditionalRandomField` that computes the same results
(up to float rounding) without a Python loop over sentences, and on the GPU without a Python
loop over time steps.

Both tasks are chain products of per-step `(num_tags, num_tags)` potential matrices: in the log
semiring for the log-likelihood, in the max-plus semiring for Viterbi decoding. Padding steps
are the semiring's identity matrix, so every sentence of a batch is one product of the same
static shape and nothing depends on tensor values on the host.

* Log-likelihood: the partition function is one entry of the product, which also takes the end
  transitions (as one more step). The gold path's score is one gather from the same matrices.
  On the GPU the product is reduced as a balanced binary tree over time padded to a power of
  two: log2 levels of one batched float64 matrix product each, on the matrices' exponentials
  rescaled to a largest entry of 1 (exact unless potentials within one step or block differ by
  more than ~700, which a trained CRF's do not); autograd gives the gradient. On the CPU, where
  the tree's O(T K^3) work costs more than the loop's O(T K^2), the first row is multiplied in
  the log semiring by one matrix after the other.
* Viterbi, best path only (`top_k` None or 1), on the GPU: the same tree in the max-plus
  semiring keeps, for every block of steps and every pair of boundary tags, the best tag at the
  block's middle; walking the tree back from the root fixes the tags at the middles of ever
  smaller blocks (log2 levels, no backtracking over time), which is an exact best path, ties
  included.
* Viterbi otherwise: steps through time over the whole batch at once with allennlp's top-k
  bookkeeping and backtracks on the device by pointer doubling.

On the GPU, for batches up to `CUDA_GRAPH_MAX_ELEMENTS` potentials, both run as CUDA graphs
captured once per shape (batch size, and length rounded up to a power of two): at these
sizes the kernels take microseconds and launching them one by one from Python is what costs.
The log-likelihood's graph computes its gradient in the same pass (autograd inside the graph),
kept for the backward pass, so nothing of one call is overwritten by the next.

Decoding copies its results to the host once.

Both methods give allennlp's results for any mask, computed fast for left-aligned ones
(`mask[b]` True for the first `length[b]` tokens, False after them), as a tagger's are:
* `viterbi_tags`, as allennlp, decodes each sentence's tokens whose mask is True, in order. The
  results it copies to the host tell whether the mask was left-aligned; if not, it decodes
  again with those tokens moved to the front of their rows.
* `forward` computes allennlp's sums for any mask without a check (that would stall the GPU).
  log Z is that of token 0 (whatever its mask) and of the later tokens whose mask is True: the
  other steps are the identity. The gold score is start[tags[0]], plus transitions[tags[t - 1],
  tags[t]] and logits[t, tags[t]] where `mask[t]` (at the last position, with `tags[n - 1]`),
  plus end[tags[n - 1]], `n` being the number of True. For left-aligned masks this is the
  log-likelihood of the first `n` tags; for others, as in allennlp, it is not that of any
  sentence, and a row with no True is an indexing error (tags[-1]).
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from allennlp.modules.conditional_random_field import ConditionalRandomField

from taglm_plugin.speed.cuda_graphs import (
    CudaGraphCache,
    LossWithPrecomputedGradients,
    cuda_graphs_usable,
)

ViterbiDecoding = Tuple[List[int], float]  # a tag sequence and its Viterbi score

# allennlp's score for a transition that the constraints forbid (and for START/END misuse).
_FORBIDDEN = -10000.0
# Off-diagonal entries of the log-semiring identity: exp(_LOG_ZERO - x) is exactly 0 in
# float32/64, and being finite, no arithmetic on them makes a NaN (as -inf - -inf would).
_LOG_ZERO = -1e30


# Batches of up to this many potentials (batch size x power-of-two length x (num_tags + 2)^2)
# run as CUDA graphs; larger ones are bound by the GPU's arithmetic, not by kernel launches, and
# their graphs would hold much memory (each keeps its intermediates).
CUDA_GRAPH_MAX_ELEMENTS = 1 << 21
# Captured graphs kept per CRF and computation, least recently used dropped first.
CUDA_GRAPHS_KEPT = 16


def _semiring_identity(size: int, zero: float) -> torch.Tensor:
    """A `(size, size)` matrix with 0 on the diagonal and `zero` elsewhere."""
    return torch.full((size, size), zero).fill_diagonal_(0.0)


def _bool_mask(logits: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.BoolTensor:
    """`mask` as booleans, or all `True` (shape `logits.shape[:2]`) for `None`."""
    if mask is None:
        return logits.new_ones(logits.shape[:2], dtype=torch.bool)
    return mask.bool()


def _left_aligned(
    logits: torch.Tensor, mask: torch.BoolTensor
) -> Tuple[torch.Tensor, torch.BoolTensor]:
    """
    `logits` (shape `(batch_size, sequence_length, num_tags)`) with each row's positions whose
    `mask` (shape `(batch_size, sequence_length)`) is True moved to its front, in order, and
    the left-aligned mask of them.
    """
    order = torch.sort((~mask).byte(), dim=1, stable=True).indices
    return logits.gather(1, order.unsqueeze(2).expand_as(logits)), mask.gather(1, order)


def _num_levels(num_steps: int) -> int:
    """The levels of a binary tree over `num_steps` leaves padded to a power of two."""
    return (num_steps - 1).bit_length()


def _log_matmul(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Log-semiring matrix product: `(..., I, M) x (..., M, J) -> (..., I, J)`."""
    return torch.logsumexp(left.unsqueeze(-1) + right.unsqueeze(-3), dim=-2)


def _log_chain_product(matrices: torch.Tensor, in_chain: torch.BoolTensor) -> torch.Tensor:
    """
    Entry `[0, 0]` of the log-semiring product `matrices[:, 0] x ... x matrices[:, T - 1]`,
    shape `(batch_size,)`, from `matrices` of shape `(batch_size, T, num_tags, num_tags)`
    that are the identity where `in_chain` (shape `(batch_size, T)`) is False, by multiplying
    the first row by one matrix after the other (T - 1 vector-matrix products). Identity steps
    keep the row instead: the CPU's `exp` is slow on their underflowing entries.
    """
    matrices = torch.where(in_chain[..., None, None], matrices, 0.0)
    first, *rest = matrices.unbind(1)  # one backward node, not one per step
    row = first[:, :1]
    for matrix, multiply in zip(rest, in_chain[:, 1:, None, None].unbind(1)):
        row = torch.where(multiply, _log_matmul(row, matrix), row)
    return row[:, 0, 0]


def _log_chain_product_tree(matrices: torch.Tensor) -> torch.Tensor:
    """
    `_log_chain_product` for `T` a power of two, reduced pairwise: log2(T) levels of one
    batched matrix product each, on the matrices' exponentials in float64. Each leaf is shifted
    by its largest entry and each product divided by its largest entry; the logs of those
    scales add up to the result's, and they need no gradient (the result does not depend on
    them). Finite entries more than ~700 below a block's largest one become 0; a trained CRF's
    potentials do not differ that much.
    """
    batch_size = matrices.size(0)
    shifts = matrices.detach().amax((2, 3), keepdim=True)
    products = (matrices - shifts).double().exp()
    factors = []
    for _ in range(_num_levels(matrices.size(1))):
        left, right = products.unflatten(1, (-1, 2)).unbind(2)
        products = left @ right
        scales = products.detach().amax((2, 3), keepdim=True)
        products = products / scales
        factors.append(scales.view(batch_size, -1))
    factors.append(products.view(batch_size, -1)[:, :1])  # the root's entry [0, 0]
    log_product = torch.cat(factors, 1).log().sum(1) + shifts.sum((1, 2, 3))
    return log_product.to(matrices.dtype)


class FastConditionalRandomField(ConditionalRandomField):
    """
    allennlp's `ConditionalRandomField` (same constructor, parameters, state dict, `forward`
    and `viterbi_tags` results) with batched, time-parallel computations; see the module
    docstring. It subclasses allennlp's class, so `isinstance` checks and state dicts carry
    over in both directions.

    `forward(inputs, tags, mask=None)` returns the log-likelihood summed over the batch (a
    scalar) for `inputs` of shape `(batch_size, sequence_length, num_tags)` and `tags`, `mask`
    of shape `(batch_size, sequence_length)`; `viterbi_tags(logits, mask=None, top_k=None)`
    decodes. Masks need not be left-aligned (see the module docstring).

    # Parameters

    num_tags : `int`, required
        The number of tags.
    constraints : `List[Tuple[int, int]]`, optional (default = `None`)
        Allowed transitions `(from_tag_id, to_tag_id)`, with `num_tags` standing for START and
        `num_tags + 1` for END, e.g. from `allennlp.modules.conditional_random_field.
        allowed_transitions`. As in allennlp, they apply to `viterbi_tags()` only.
    include_start_end_transitions : `bool`, optional (default = `True`)
        Whether to learn scores for starting and ending a sequence with each tag.
    cuda_graphs : `bool`, optional (default = `True`)
        Run small batches on the GPU as CUDA graphs (see the module docstring).
    """

    def __init__(
        self,
        num_tags: int,
        constraints: List[Tuple[int, int]] = None,
        include_start_end_transitions: bool = True,
        cuda_graphs: bool = True,
    ) -> None:
        super().__init__(num_tags, constraints, include_start_end_transitions)
        self.cuda_graphs = cuda_graphs
        self._log_likelihood_graphs = CudaGraphCache(
            self._log_likelihood_and_gradients, CUDA_GRAPHS_KEPT
        )
        self._decoding_graphs = CudaGraphCache(
            lambda logits, mask: (self._packed_decodings(logits, mask, 1, True),), CUDA_GRAPHS_KEPT
        )
        # Semiring identities for padding steps; not persistent, so state dicts stay allennlp's.
        self.register_buffer(
            "_log_identity", _semiring_identity(num_tags, _LOG_ZERO), persistent=False
        )
        self.register_buffer(
            "_max_plus_identity",
            _semiring_identity(num_tags + 2, float("-inf")),
            persistent=False,
        )

    def forward(
        self, inputs: torch.Tensor, tags: torch.Tensor, mask: torch.BoolTensor = None
    ) -> torch.Tensor:
        """
        The log-likelihood of `tags` summed over the batch, a scalar, as allennlp computes it
        for any `mask` (see the module docstring), for `inputs` of shape `(batch_size,
        sequence_length, num_tags)` and `tags`, `mask`, both of shape `(batch_size,
        sequence_length)`.
        """
        parameters = self._potential_parameters()
        # The tree's steps are the tokens and the end, padded to a power of two.
        graph_length = self._cuda_graph_length(inputs, inputs.size(1) + 1)
        if graph_length is None or not all(p.requires_grad for p in parameters):
            return self.log_likelihood_without_graph(inputs, tags, mask)
        mask = _bool_mask(inputs, mask)
        # The graph's inputs are padded to its length: it is given the call's last position.
        last_position = torch.full((), inputs.size(1) - 1, device=inputs.device)
        shape = (inputs.size(0), graph_length - 1)
        key = (shape, inputs.dtype, inputs.device, tuple(p.dtype for p in parameters))

        def examples() -> List[torch.Tensor]:
            static = [inputs.new_empty(shape + (self.num_tags,)), tags.new_empty(shape)]
            static += [mask.new_empty(shape), last_position.new_empty(())]
            return static + [p.detach() for p in parameters]

        (log_likelihood,) = LossWithPrecomputedGradients.apply(
            lambda *args: self._log_likelihood_graphs(key, examples, *args),
            inputs,
            tags,
            mask,
            last_position,
            *parameters,
        )
        return log_likelihood

    def log_likelihood_without_graph(
        self, inputs: torch.Tensor, tags: torch.Tensor, mask: torch.BoolTensor = None
    ) -> torch.Tensor:
        """`forward` computed without a CUDA graph of its own, as a graph that calls it captures."""
        parallel = inputs.device.type != "cpu"
        parameters = self._potential_parameters()
        return self._log_likelihoods(inputs, tags, mask, parallel, parameters).sum()

    def _potential_parameters(self) -> List[torch.nn.Parameter]:
        """The parameters the log-likelihood depends on."""
        if self.include_start_end_transitions:
            return [self.transitions, self.start_transitions, self.end_transitions]
        return [self.transitions]

    def _cuda_graph_length(self, logits: torch.Tensor, num_steps: int) -> Optional[int]:
        """
        `num_steps` rounded up to a power of two when `logits` (batch size x that length) are
        computed by a CUDA graph, `None` when they are computed eagerly.
        """
        if not (self.cuda_graphs and cuda_graphs_usable(logits)):
            return None
        length = 1 << _num_levels(num_steps)
        if logits.size(0) * length * (self.num_tags + 2) ** 2 > CUDA_GRAPH_MAX_ELEMENTS:
            return None
        return length

    def _log_likelihood_and_gradients(
        self,
        logits: torch.Tensor,
        tags: torch.Tensor,
        mask: torch.BoolTensor,
        last_position: torch.Tensor,
        *parameters: torch.Tensor,
    ) -> Tuple[torch.Tensor, Tuple[()], List[Optional[torch.Tensor]]]:
        """
        The summed log-likelihood (a scalar), no further outputs, and its gradients with
        respect to `logits`, `tags`, `mask` and `last_position` (`None`) and `parameters`
        (values of `_potential_parameters()`), by the tree, as `LossWithPrecomputedGradients`
        takes them; what the log-likelihood's CUDA graphs capture. The gradients are taken with
        respect to new leaves: autograd nodes of the module's parameters from earlier
        (uncaptured) steps must not take part in a capture.
        """
        with torch.enable_grad():
            leaves = [tensor.detach().requires_grad_() for tensor in (logits,) + parameters]
            total = self._log_likelihoods(
                leaves[0], tags, mask, True, leaves[1:], last_position
            ).sum()
            logits_gradient, *parameter_gradients = torch.autograd.grad(total, leaves)
        return total.detach(), (), [logits_gradient, None, None, None, *parameter_gradients]

    def _log_likelihoods(
        self,
        logits: torch.Tensor,
        tags: torch.Tensor,
        mask: Optional[torch.BoolTensor],
        parallel: bool,
        parameters: Sequence[torch.Tensor],
        last_position: Union[int, torch.Tensor, None] = None,
    ) -> torch.Tensor:
        """
        log p(tags | logits) per sentence, shape `(batch_size,)`, as allennlp computes it for
        any mask (see the module docstring), for `logits` of shape `(batch_size,
        sequence_length, num_tags)`, `tags` and `mask` (`None`: all tokens) of shape
        `(batch_size, sequence_length)`, with `parameters` the values of
        `_potential_parameters()`. `parallel` picks the tree reduction. `last_position` (an
        int or a 0-d tensor; `None`: `sequence_length - 1`) is the caller's last position when
        the inputs are padded beyond it with `mask` False (as a CUDA graph's are).

        log Z is entry `[0, 0]` of the product of a chain of `num_steps` potential matrices
        (`sequence_length + 1`, for the tree padded to a power of two). Step `t` of sentence
        `b` is `potentials[b, t, i, j]`:
        `t = 0`: start[j] + logits[b, 0, j] (all rows `i` alike);
        `0 < t < sequence_length`, `mask[b, t]`: transitions[i, j] + logits[b, t, j];
        `t = sequence_length`: end[i] (all columns `j` alike);
        other steps: the log-semiring identity.
        """
        self._check_num_tags(logits)
        _, sequence_length, num_tags = logits.shape
        mask = _bool_mask(logits, mask)
        if last_position is None:
            last_position = sequence_length - 1
        num_steps = sequence_length + 1
        if parallel:
            num_steps = 1 << _num_levels(num_steps)
        padding = num_steps - sequence_length
        transitions, *start_and_end = parameters
        start, end = start_and_end or (logits.new_zeros(num_tags),) * 2
        step_transitions = torch.cat(
            [
                start.expand(1, num_tags, num_tags),
                transitions.expand(num_steps - 1, num_tags, num_tags),
            ]
        )
        potentials = step_transitions + F.pad(logits, (0, 0, 0, padding)).unsqueeze(2)
        positions = torch.arange(num_steps, device=logits.device)
        is_end = positions == sequence_length
        tokens = F.pad(mask, (0, padding)) | (positions == 0)
        after = torch.where(is_end[:, None, None], end.unsqueeze(1), self._log_identity)
        potentials = torch.where(tokens[..., None, None], potentials, after)
        if parallel:
            log_partition_functions = _log_chain_product_tree(potentials)
        else:
            log_partition_functions = _log_chain_product(potentials, tokens | is_end)
        gold_scores = self._gold_scores(
            logits, tags, mask, last_position, transitions, start, end
        )
        return gold_scores - log_partition_functions

    @staticmethod
    def _gold_scores(
        logits: torch.Tensor,
        tags: torch.Tensor,
        mask: torch.BoolTensor,
        last_position: Union[int, torch.Tensor],
        transitions: torch.Tensor,
        start: torch.Tensor,
        end: torch.Tensor,
    ) -> torch.Tensor:
        """
        allennlp's score of `tags` per sentence, shape `(batch_size,)`, for `logits` of shape
        `(batch_size, sequence_length, num_tags)`, `tags` and `mask` of shape `(batch_size,
        sequence_length)` and the caller's `last_position` (see `_log_likelihoods`): start[tags
        [0]], transitions[tags[t - 1], tags[t]] where `mask[t]`, logits[t, tags[t]] where
        `mask[t]` but at `last_position` with the last tag, and end[last tag], the last tag
        being tags[mask.sum() - 1] (for a row without any True, index -1: an indexing error,
        as in allennlp).
        """
        last_tags = tags.gather(1, mask.sum(1, keepdim=True) - 1)
        positions = torch.arange(tags.size(1), device=tags.device)
        emitted_tags = torch.where(positions == last_position, last_tags, tags)
        emissions = logits.gather(2, emitted_tags.unsqueeze(2)).squeeze(2) * mask
        steps = transitions[tags[:, :-1], tags[:, 1:]] * mask[:, 1:]
        return start[tags[:, 0]] + emissions.sum(1) + steps.sum(1) + end[last_tags[:, 0]]

    def _check_num_tags(self, logits: torch.Tensor) -> None:
        if logits.dim() != 3 or logits.size(2) != self.num_tags:
            raise ValueError(
                f"expected logits of shape (batch_size, sequence_length, {self.num_tags}), "
                f"got {tuple(logits.shape)}"
            )

    def _viterbi_transitions(self) -> torch.Tensor:
        """
        allennlp's decoding transition matrix, shape `(num_tags + 2, num_tags + 2)` with START
        at index `num_tags` and END at `num_tags + 1`; forbidden transitions score -10000.
        """
        num_tags = self.num_tags
        transitions = F.pad(self.transitions, (0, 2, 0, 2), value=_FORBIDDEN)
        if self.include_start_end_transitions:
            transitions[num_tags, :num_tags] = self.start_transitions
            transitions[:num_tags, num_tags + 1] = self.end_transitions
        else:
            transitions[num_tags, :num_tags] = 0.0
            transitions[:num_tags, num_tags + 1] = 0.0
        # allennlp's `transitions * mask - 10000 * (1 - mask)` for its 0/1 constraint mask
        return transitions.masked_fill_(self._constraint_mask == 0, _FORBIDDEN)

    @torch.no_grad()
    def viterbi_tags(
        self, logits: torch.Tensor, mask: torch.BoolTensor = None, top_k: int = None
    ) -> Union[List[ViterbiDecoding], List[List[ViterbiDecoding]]]:
        """
        The `top_k` best tag sequences of each sentence and their scores, as allennlp's
        `ConditionalRandomField.viterbi_tags` computes them (the scores up to float rounding:
        the sums are taken in another order).

        `logits` has shape `(batch_size, sequence_length, num_tags)`, `mask` `(batch_size,
        sequence_length)`; a sentence is its tokens whose mask is True. Returns one `(tags,
        score)` per sentence when `top_k` is `None`, otherwise one list of up to `top_k` of them
        per sentence, best first.
        """
        return self._viterbi_tags(logits, mask, top_k, logits.device.type != "cpu")

    def _viterbi_tags(
        self, logits: torch.Tensor, mask: torch.BoolTensor, top_k: int, parallel: bool
    ) -> Union[List[ViterbiDecoding], List[List[ViterbiDecoding]]]:
        """`viterbi_tags`; `parallel` picks the tree decoding for the best path."""
        if top_k is not None and top_k < 1:
            raise ValueError(
                f"top_k must be either None or an integer >=1. Instead received {top_k}"
            )
        self._check_num_tags(logits)
        k = 1 if top_k is None else top_k
        batch_size, sequence_length, _ = logits.shape
        mask = _bool_mask(logits, mask)
        graph_length = self._cuda_graph_length(logits, sequence_length) if k == 1 else None
        if graph_length is None:
            packed = self._packed_decodings(logits, mask, k, parallel)
        else:
            # Decoded at the graph's length: the tags of the padding are dropped below.
            sequence_length = graph_length
            shape = (batch_size, sequence_length)
            parameters = self._potential_parameters() + [self._constraint_mask]
            key = (shape, logits.dtype, logits.device, tuple(p.data_ptr() for p in parameters))

            def examples() -> List[torch.Tensor]:
                return [logits.new_empty(shape + (self.num_tags,)), mask.new_empty(shape)]

            (packed,) = self._decoding_graphs(key, examples, logits, mask)
        packed = packed.cpu()
        num_scores = batch_size * k
        integers = packed[:-num_scores].tolist()
        scores = packed[-num_scores:].view(torch.float64).tolist()
        lengths, tags = integers[:batch_size], integers[2 * batch_size :]
        if lengths != integers[batch_size : 2 * batch_size]:
            # As allennlp, decode each sentence's tokens whose mask is True, in order.
            return self._viterbi_tags(*_left_aligned(logits, mask), top_k, parallel)
        decodings = []
        for sentence, length in enumerate(lengths):
            ranks = range(sentence * k, (sentence + 1) * k)
            decodings.append(
                [
                    (tags[rank * sequence_length : rank * sequence_length + length], scores[rank])
                    for rank in ranks
                    if scores[rank] != float("-inf")
                ]
            )
        if top_k is None:
            return [sentence_decodings[0] for sentence_decodings in decodings]
        return decodings

    def _packed_decodings(
        self, logits: torch.Tensor, mask: torch.BoolTensor, k: int, parallel: bool
    ) -> torch.Tensor:
        """
        The `k` best paths of every sentence in one int64 tensor, for one copy to the host:
        the lengths, the lengths of the masks' leading runs of True (equal for left-aligned
        masks), the tags (`batch_size x k x sequence_length`) and the scores' float64 bits.
        `parallel` picks the tree decoding for `k = 1`.
        """
        lengths = mask.sum(1)
        if parallel and k == 1:
            tags, scores = self._best_paths(logits, mask)
        else:
            tags, scores = self._k_best_paths(logits, mask, lengths, k)
        return torch.cat(
            [
                lengths,
                mask.cumprod(1).sum(1),
                tags.flatten(),
                scores.double().flatten().view(torch.int64),
            ]
        )

    def _best_paths(
        self, logits: torch.Tensor, mask: torch.BoolTensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        The best tag sequence of each sentence, shape `(batch_size, sequence_length, 1)`, and
        its score, shape `(batch_size, 1)`, for `logits` of shape `(batch_size,
        sequence_length, num_tags)` and a left-aligned `mask` of shape `(batch_size,
        sequence_length)`, by a max-plus tree over time (see the module docstring).
        """
        batch_size, sequence_length, num_tags = logits.shape
        start_tag, end_tag, total_tags = num_tags, num_tags + 1, num_tags + 2
        num_levels = _num_levels(sequence_length)
        padding = (1 << num_levels) - sequence_length
        transitions = self._viterbi_transitions()
        # blocks[b, s, i, j]: score of tag i at position s (START at 0) -> tag j at position
        # s + 1 (token s; tokens score -10000 as START/END, as in allennlp); after the
        # sentence, the max-plus identity keeps the last token's tag.
        unary = F.pad(logits, (0, 2, 0, padding), value=_FORBIDDEN)
        blocks = torch.where(
            F.pad(mask, (0, padding)).view(batch_size, -1, 1, 1),
            transitions + unary.unsqueeze(2),
            self._max_plus_identity,
        )
        # Level by level, pairs of blocks become one; middles[level][b, block, i * total_tags
        # + j] is the best tag at the block's middle position for tags i, j at its ends.
        middles = []
        for _ in range(num_levels):
            blocks, middle = (blocks[:, 0::2, :, :, None] + blocks[:, 1::2, None]).max(3)
            middles.append(middle.view(batch_size, -1, total_tags * total_tags))
        scores, last_tags = (blocks[:, 0, start_tag] + transitions[:, end_tag]).max(
            1, keepdim=True
        )
        # A sentence without tokens: allennlp's search also reaches END from the tags it scores
        # -10000 at START's position.
        no_tokens = transitions[start_tag, end_tag].maximum(
            _FORBIDDEN + transitions[:, end_tag].max()
        )
        scores = torch.where(mask[:, :1], scores, no_tokens)
        # firsts, lasts[b, block, 0]: the best path's tags at the block's first and last
        # positions (START at 0); each level fixes the middles of the blocks of the next one.
        lasts = last_tags.unsqueeze(2)
        firsts = torch.full_like(lasts, start_tag)
        for middle in reversed(middles):
            middle = middle.gather(2, torch.add(lasts, firsts, alpha=total_tags))
            ends = torch.cat([firsts, middle, middle, lasts], 2).view(batch_size, -1, 2)
            firsts, lasts = ends.split(1, 2)
        return lasts[:, :sequence_length], scores

    def _k_best_paths(
        self, logits: torch.Tensor, mask: torch.BoolTensor, lengths: torch.Tensor, k: int
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        The `k` best tag sequences of each sentence, shape `(batch_size, k, sequence_length)`,
        and their scores, shape `(batch_size, k)` (-inf for ranks that allennlp's search does
        not fill), for `logits` of shape `(batch_size, sequence_length, num_tags)`, a
        left-aligned `mask` of shape `(batch_size, sequence_length)` and its `lengths`, by
        allennlp's top-k Viterbi recursion over time.
        """
        batch_size, sequence_length, num_tags = logits.shape
        # As in allennlp, sentence b is decoded over positions 0 .. lengths[b] + 1: START, its
        # tokens, END; the sentinels pin the tags. Step s moves from position s to s + 1.
        start_tag, end_tag, total_tags = num_tags, num_tags + 1, num_tags + 2
        num_steps = sequence_length + 1
        positions = torch.arange(num_steps, device=logits.device)
        unary = logits.new_full((batch_size, num_steps, total_tags), _FORBIDDEN)
        unary[:, :sequence_length, :num_tags] = logits
        end_row = unary.new_full((total_tags,), _FORBIDDEN)
        end_row[end_tag] = 0.0
        unary = torch.where((positions == lengths[:, None])[..., None], end_row, unary)
        # potentials[b, s, i, j]: score of tag i at position s -> tag j at s + 1; steps after
        # END keep the scores (max-plus identity).
        potentials = torch.where(
            (positions <= lengths[:, None])[..., None, None],
            self._viterbi_transitions() + unary.unsqueeze(2),
            self._max_plus_identity,
        )

        # scores[b, r, j, 0]: score of the r-th best path to tag j at the current position; its
        # backpointer r' * total_tags + i names rank r' of tag i one position earlier
        # (allennlp's flattening). Ranks allennlp does not have yet are -inf.
        scores = logits.new_full((batch_size, k, total_tags, 1), float("-inf"))
        scores[:, 0] = _FORBIDDEN
        scores[:, 0, start_tag] = 0.0
        backpointers = []
        for step_potentials in potentials.unsqueeze(1).unbind(2):
            # candidates[b, r * total_tags + i, j, 0], reduced over its dimension 1
            candidates = (scores + step_potentials).view(batch_size, -1, total_tags, 1)
            if k == 1:  # the same as topk(1), much faster on the CPU
                scores, backpointer = candidates.max(dim=1, keepdim=True)
            else:
                scores, backpointer = candidates.topk(k, dim=1)
            backpointers.append(backpointer)
        best_scores, best = scores.flatten(1).topk(k, dim=1)

        # Backtracking by pointer doubling: jumps[:, s] maps a path's index at position
        # min(s + d, num_steps) to its index at position s; d doubles until it spans the steps.
        jumps = torch.stack(backpointers, dim=1).flatten(2)  # (batch, num_steps, k * tags)
        span = 1
        while span < num_steps:
            jumps = torch.cat([jumps[:, :-span].gather(2, jumps[:, span:]), jumps[:, -span:]], 1)
            span *= 2
        indices = jumps[:, 1:].gather(2, best.unsqueeze(1).expand(-1, sequence_length, -1))
        # tags[b, r, t]: tag of the r-th best path at position t + 1, i.e. of token t.
        tags = indices.transpose(1, 2) % total_tags
        return tags, best_scores
