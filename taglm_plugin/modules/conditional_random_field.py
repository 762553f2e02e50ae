"""
A drop-in replacement for allennlp's `ConditionalRandomField` that computes the same results
(up to float rounding) without a Python loop over sentences, and on the GPU without a Python
loop over time steps for the log-likelihood.

* The partition function is the first row of a chain product of per-step potential matrices
  in the log semiring. The product is associative, so on the GPU it is reduced as a balanced
  binary tree (O(log T) depth, autograd gives the gradient); on the CPU, where the tree's
  O(T K^3) work costs more than the loop's O(T K^2), the same product is taken left to right.
* Viterbi decoding steps through time over the whole batch at once in the max-plus semiring
  with allennlp's top-k bookkeeping, backtracks on the device by pointer doubling and copies
  the result to the host once.

Masks follow allennlp's assumption: they are left-aligned, i.e. `mask[b]` is `True` for the
first `length[b] >= 1` tokens and `False` after them. `viterbi_tags` raises a `ValueError` for
other masks; `forward` does not check (that would stall the GPU), and its result for them
need not match allennlp's.
"""
from typing import List, Optional, Tuple, Union

import torch
from allennlp.modules.conditional_random_field import ConditionalRandomField

ViterbiDecoding = Tuple[List[int], float]  # a tag sequence and its Viterbi score

# allennlp's score for a transition that the constraints forbid (and for START/END misuse).
_FORBIDDEN = -10000.0
# Off-diagonal entries of the log-semiring identity. Finite, because `torch.logsumexp` has a
# NaN gradient where all its inputs are -inf; exp(_LOG_ZERO - x) is exactly 0 in float32/64.
_LOG_ZERO = -1e30


def _semiring_identity(size: int, zero: float, like: torch.Tensor) -> torch.Tensor:
    """A `(size, size)` matrix with 0 on the diagonal and `zero` elsewhere."""
    return like.new_full((size, size), zero).fill_diagonal_(0.0)


def _log_matmul(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Log-semiring matrix product: `(..., I, M) x (..., M, J) -> (..., I, J)`."""
    return torch.logsumexp(left.unsqueeze(-1) + right.unsqueeze(-3), dim=-2)


def _log_chain_product_first_row(
    matrices: torch.Tensor, mask: torch.BoolTensor, parallel: bool
) -> torch.Tensor:
    """
    First row of the log-semiring product `matrices[:, 0] x matrices[:, 1] x ... x
    matrices[:, T - 1]` with the steps where `mask` is False left out, shape
    `(batch_size, num_tags)` from `matrices` of shape `(batch_size, T, num_tags, num_tags)` and
    a left-aligned `mask` of shape `(batch_size, T)`.

    With `parallel=True` the left-out steps become identity matrices and the product is reduced
    pairwise (log2(T) levels, each one batched matrix product over all pairs); otherwise the
    first row is multiplied by one matrix after the other (T - 1 vector-matrix products), and
    left-out steps keep the row (CPU `exp` is slow on the identity's underflowing entries).
    Both give the same result up to rounding.
    """
    batch_size, _, num_tags, _ = matrices.shape
    if not parallel:
        first, *rest = matrices.unbind(1)  # one backward node, not one per step
        row = first[:, :1]
        for matrix, in_sequence in zip(rest, mask[:, 1:, None, None].unbind(1)):
            row = torch.where(in_sequence, _log_matmul(row, matrix), row)
        return row[:, 0]
    identity = _semiring_identity(num_tags, _LOG_ZERO, matrices)
    matrices = torch.where(mask[..., None, None], matrices, identity)
    identity = identity.expand(batch_size, 1, -1, -1)
    while matrices.size(1) > 1:
        if matrices.size(1) % 2:
            matrices = torch.cat([matrices, identity], dim=1)
        left, right = matrices.unflatten(1, (-1, 2)).unbind(2)
        matrices = _log_matmul(left, right)
    return matrices[:, 0, 0]


class FastConditionalRandomField(ConditionalRandomField):
    """
    allennlp's `ConditionalRandomField` (same constructor, parameters, state dict, `forward`
    and `viterbi_tags` results) with batched, time-parallel computations; see the module
    docstring. It subclasses allennlp's class, so `isinstance` checks and state dicts carry
    over in both directions.

    `forward(inputs, tags, mask=None)` returns the log-likelihood summed over the batch (a
    scalar) for `inputs` of shape `(batch_size, sequence_length, num_tags)` and `tags`, `mask`
    of shape `(batch_size, sequence_length)`; `viterbi_tags(logits, mask=None, top_k=None)`
    decodes. Masks must be left-aligned (see the module docstring).

    # Parameters

    num_tags : `int`, required
        The number of tags.
    constraints : `List[Tuple[int, int]]`, optional (default = `None`)
        Allowed transitions `(from_tag_id, to_tag_id)`, with `num_tags` standing for START and
        `num_tags + 1` for END, e.g. from `allennlp.modules.conditional_random_field.
        allowed_transitions`. As in allennlp, they apply to `viterbi_tags()` only.
    include_start_end_transitions : `bool`, optional (default = `True`)
        Whether to learn scores for starting and ending a sequence with each tag.
    """

    def _input_likelihood(
        self,
        logits: torch.Tensor,
        transitions: torch.Tensor,
        mask: torch.BoolTensor,
        parallel: Optional[bool] = None,
    ) -> torch.Tensor:
        """
        The log partition function log Z(x), shape `(batch_size,)`, from `logits` of shape
        `(batch_size, sequence_length, num_tags)`, `transitions` of shape
        `(num_tags, num_tags)` and a left-aligned `mask` of shape
        `(batch_size, sequence_length)`. `parallel` picks the tree reduction (default: on any
        device but the CPU).
        """
        self._check_num_tags(logits)
        _, sequence_length, num_tags = logits.shape
        if parallel is None:
            parallel = logits.device.type != "cpu"
        if self.include_start_end_transitions:
            start, end = self.start_transitions, self.end_transitions
        else:
            start = end = logits.new_zeros(num_tags)
        # potentials[b, t, i, j]: score of tag j at step t after tag i at step t - 1; every
        # row of step 0 holds the start scores.
        step_transitions = torch.cat(
            [
                start.expand(1, num_tags, num_tags),
                transitions.expand(sequence_length - 1, num_tags, num_tags),
            ]
        )
        potentials = step_transitions + logits.unsqueeze(2)
        alpha = _log_chain_product_first_row(potentials, mask, parallel)
        return torch.logsumexp(alpha + end, dim=-1)

    def _joint_likelihood(
        self,
        logits: torch.Tensor,
        transitions: torch.Tensor,
        tags: torch.Tensor,
        mask: torch.BoolTensor,
    ) -> torch.Tensor:
        """
        The score of the gold tag sequences, shape `(batch_size,)`, from `logits` of shape
        `(batch_size, sequence_length, num_tags)`, `transitions` of shape
        `(num_tags, num_tags)`, `tags` and a left-aligned `mask`, both of shape
        `(batch_size, sequence_length)`.
        """
        weights = mask.to(logits.dtype)
        emissions = logits.gather(2, tags.unsqueeze(2)).squeeze(2)
        tag_transitions = transitions[tags[:, :-1], tags[:, 1:]]
        score = (emissions * weights).sum(1) + (tag_transitions * weights[:, 1:]).sum(1)
        if self.include_start_end_transitions:
            last_tags = tags.gather(1, mask.sum(1, keepdim=True) - 1).squeeze(1)
            score = score + self.start_transitions[tags[:, 0]] + self.end_transitions[last_tags]
        return score

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
        transitions = self.transitions.new_full((num_tags + 2, num_tags + 2), _FORBIDDEN)
        transitions[:num_tags, :num_tags] = self.transitions
        if self.include_start_end_transitions:
            transitions[num_tags, :num_tags] = self.start_transitions
            transitions[:num_tags, num_tags + 1] = self.end_transitions
        else:
            transitions[num_tags, :num_tags] = 0.0
            transitions[:num_tags, num_tags + 1] = 0.0
        # allennlp's arithmetic; entries outside the three blocks stay -10000 for any 0/1 mask.
        allowed = self._constraint_mask
        return transitions * allowed + _FORBIDDEN * (1 - allowed)

    @torch.no_grad()
    def viterbi_tags(
        self, logits: torch.Tensor, mask: torch.BoolTensor = None, top_k: int = None
    ) -> Union[List[ViterbiDecoding], List[List[ViterbiDecoding]]]:
        """
        The `top_k` best tag sequences of each sentence and their scores, as allennlp's
        `ConditionalRandomField.viterbi_tags` computes them (the scores up to float rounding:
        allennlp adds a token's logits to the path score after the transition score, this
        class adds them to the transition score first).

        `logits` has shape `(batch_size, sequence_length, num_tags)`, `mask` (left-aligned)
        `(batch_size, sequence_length)`. Returns one `(tags, score)` per sentence when `top_k`
        is `None`, otherwise one list of up to `top_k` of them per sentence, best first.
        """
        if top_k is not None and top_k < 1:
            raise ValueError(
                f"top_k must be either None or an integer >=1. Instead received {top_k}"
            )
        self._check_num_tags(logits)
        k = 1 if top_k is None else top_k
        batch_size, sequence_length, num_tags = logits.shape
        if mask is None:
            mask = torch.ones(batch_size, sequence_length, dtype=torch.bool, device=logits.device)
        mask = mask.bool()
        lengths = mask.sum(1)
        positions = torch.arange(sequence_length + 1, device=logits.device)
        left_aligned = (mask == (positions[:-1] < lengths[:, None])).all()

        # As in allennlp, sentence b is decoded over positions 0 .. lengths[b] + 1: START, its
        # tokens, END; the sentinels pin the tags. Step s moves from position s to s + 1.
        start_tag, end_tag, total_tags = num_tags, num_tags + 1, num_tags + 2
        num_steps = sequence_length + 1
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
            _semiring_identity(total_tags, float("-inf"), logits),
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
        indices = jumps.gather(2, best.unsqueeze(1).expand(-1, num_steps, -1))
        # tags[b, r, s]: tag of the r-th best path at position s + 1, i.e. of token s.
        tags = torch.cat([indices[:, 1:], best.unsqueeze(1)], 1).transpose(1, 2) % total_tags

        # One copy of the integers and one of the scores to the host.
        integers = torch.cat([lengths, left_aligned.view(1), tags.flatten()]).tolist()
        lengths, left_aligned, tags = (
            integers[:batch_size], integers[batch_size], integers[batch_size + 1 :]
        )
        if not left_aligned:
            raise ValueError(
                "viterbi_tags needs left-aligned masks (True for the first tokens of each "
                "sentence, False after them)"
            )
        decodings = []
        for sentence, (sentence_scores, length) in enumerate(zip(best_scores.tolist(), lengths)):
            offsets = ((sentence * k + rank) * num_steps for rank in range(k))
            decodings.append(
                [
                    (tags[offset : offset + length], score)
                    for offset, score in zip(offsets, sentence_scores)
                    if score != float("-inf")
                ]
            )
        if top_k is None:
            return [sentence_decodings[0] for sentence_decodings in decodings]
        return decodings
