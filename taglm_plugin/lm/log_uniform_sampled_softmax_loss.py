import math
from typing import Optional, Tuple

import numpy
import torch
from allennlp.modules.sampled_softmax_loss import SampledSoftmaxLoss
from allennlp.nn import util

from taglm_plugin.lm.conventions import IGNORED_TARGET

# How far (in standard deviations) below the expected number of distinct words the draws of
# one batch may fall before they give fewer than `num_samples` distinct words; the chance of
# that is below exp(-STD_MARGIN**2 / 2) (a Bernstein bound for the negatively associated
# "word drawn" indicators), i.e. never in practice.
STD_MARGIN = 12.0

# `logits_precision` of `LogUniformSampledSoftmaxLoss`: the dtype of the sampled logits'
# matrix products' operands.
LOGITS_PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}

# Rows of the full softmax's logits that evaluation computes at a time: (4096, 50,000) float32
# logits are 0.8 GB, where all rows of a batch of 128 sentences of 100 words at once would take
# three tensors of 2.6 GB.
EVAL_CHUNK_ROWS = 4096


class LogUniformSampledSoftmaxLoss(SampledSoftmaxLoss):
    """
    allennlp's `SampledSoftmaxLoss` (same parameters `softmax_w`, `softmax_b`, same loss) whose
    candidate sampler runs on the device of the targets instead of a Python loop over numpy
    draws per batch.

    The sample has the same distribution as allennlp's `_choice` (TensorFlow's
    `log_uniform_candidate_sampler` with `unique=True`): words are drawn with replacement
    from the log-uniform (Zipfian) distribution `P(w) = log((w + 2) / (w + 1)) / log(N + 1)`
    until `num_samples` distinct ones are seen; `num_tries` (the number of draws) sets the
    expected counts that correct the logits. Here a fixed number of draws `num_draws` is made
    at once, so large that it holds `num_samples` distinct words except with negligible
    probability (`STD_MARGIN`), and the sample is the first `num_samples` distinct words in
    draw order, `num_tries` the position of the last of them. No host synchronisation.

    Targets equal to `IGNORED_TARGET` (padding) add nothing to the loss, in training as in
    evaluation, so a padded batch needs no boolean indexing (a host synchronisation).
    Evaluation computes allennlp's full-softmax loss `EVAL_CHUNK_ROWS` rows at a time.

    `logits_precision = "bfloat16"` rounds the operands of the sampled logits' matrix products
    (the states and the sampled words' weights in the forward pass, the gradient of the logits
    in the backward pass) to bfloat16 and accumulates and returns them in float32: tensor cores,
    float32 logits and log-sum-exp. States from an LSTM under bfloat16 autocast are bfloat16
    values already, so there only the softmax weights are rounded (relative error 2**-9).
    The true words' logits and the full softmax of evaluation stay float32.

    # Parameters

    num_words : `int`
        Words in the softmax (no padding entry).
    embedding_dim : `int`
    num_samples : `int`
        Distinct words sampled per batch, less than `num_words`.
    logits_precision : `str`, optional (default = `"float32"`)
        `"float32"` or `"bfloat16"` (a key of `LOGITS_PRECISIONS`).
    """

    def __init__(
        self,
        num_words: int,
        embedding_dim: int,
        num_samples: int,
        logits_precision: str = "float32",
    ) -> None:
        super().__init__(num_words, embedding_dim, num_samples)
        if logits_precision not in LOGITS_PRECISIONS:
            raise ValueError(
                f"logits_precision must be one of {sorted(LOGITS_PRECISIONS)}, "
                f"got {logits_precision!r}"
            )
        self.num_draws = draws_for_distinct(self._probs, num_samples)
        self._logits_dtype = LOGITS_PRECISIONS[logits_precision]

    def _forward_train(
        self,
        embeddings: torch.Tensor,
        targets: torch.Tensor,
        target_token_embedding: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """
        allennlp's sampled loss (the same logits and corrections) of `embeddings`
        `(num_targets, embedding_dim)` for `targets` `(num_targets,)`, summed over the targets
        that are not `IGNORED_TARGET`: `logsumexp` over the true and sampled logits minus the
        true logit, without materializing their concatenation.
        """
        predicted = targets != IGNORED_TARGET
        targets = targets.clamp(min=0)
        sampled_ids, target_expected_count, sampled_expected_count = (
            self.log_uniform_candidate_sampler(targets)
        )
        # (num_targets + num_samples, embedding_dim) and (num_targets + num_samples,)
        all_ids = torch.cat([targets, sampled_ids])
        all_w = torch.nn.functional.embedding(all_ids, self.softmax_w)
        all_b = self.softmax_b[all_ids]
        num_targets = targets.size(0)
        true_w, sampled_w = all_w[:num_targets], all_w[num_targets:]
        true_b, sampled_b = all_b[:num_targets], all_b[num_targets:]
        tiny = util.tiny_value_of_dtype(torch.float32)
        # (num_targets,)
        true_logits = (
            (true_w * embeddings).sum(dim=1) + true_b - torch.log(target_expected_count + tiny)
        )
        # (num_targets, num_samples); a target among the samples does not count as a sample.
        sampled_logits = (
            sampled_logits_product(embeddings, sampled_w, self._logits_dtype)
            + (sampled_b - torch.log(sampled_expected_count + tiny))
        ).masked_fill(sampled_ids == targets.unsqueeze(1), -10000.0)
        nll = torch.logaddexp(true_logits, sampled_logits.logsumexp(dim=1)) - true_logits
        return torch.where(predicted, nll, 0.0).sum()

    def _forward_eval(self, embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """
        allennlp's full-softmax loss of `embeddings` `(num_targets, embedding_dim)` for
        `targets` `(num_targets,)`, summed over the targets that are not `IGNORED_TARGET`:
        `logsumexp` of the logits minus the true logit, `EVAL_CHUNK_ROWS` rows at a time.
        """
        summed = embeddings.new_zeros((), dtype=torch.float32)
        for start in range(0, embeddings.size(0), EVAL_CHUNK_ROWS):
            chunk_targets = targets[start : start + EVAL_CHUNK_ROWS]
            # (chunk_rows, num_words)
            logits = torch.addmm(
                self.softmax_b, embeddings[start : start + EVAL_CHUNK_ROWS], self.softmax_w.t()
            )
            true_logits = logits.gather(1, chunk_targets.clamp(min=0).unsqueeze(1)).squeeze(1)
            nll = logits.logsumexp(dim=1) - true_logits
            summed = summed + torch.where(chunk_targets != IGNORED_TARGET, nll, 0.0).sum()
        return summed

    def log_uniform_candidate_sampler(
        self, targets: torch.Tensor, choice_func=None
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        # Parameters

        targets : `torch.Tensor`
            `(num_targets,)` word ids.

        # Returns

        `sampled_ids` `(num_samples,)`, the expected counts of the targets `(num_targets,)` and
        of the sampled words `(num_samples,)` in `num_tries` draws, as allennlp's.
        """
        sampled_ids, num_tries = log_uniform_choice(
            self._num_words, self._num_samples, self.num_draws, targets.device
        )
        return (
            sampled_ids,
            self._expected_count(targets, num_tries),
            self._expected_count(sampled_ids, num_tries),
        )

    def _expected_count(self, word_ids: torch.Tensor, num_tries: torch.Tensor) -> torch.Tensor:
        """allennlp's formula: `1 - (1 - P(w)) ** num_tries`, float32."""
        word_ids = word_ids.float()
        probs = torch.log((word_ids + 2.0) / (word_ids + 1.0)) / self._log_num_words_p1
        return -1.0 * (torch.exp(num_tries * torch.log1p(-probs)) - 1.0)


def sampled_logits_product(
    embeddings: torch.Tensor, sampled_w: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """
    `embeddings @ sampled_w.T` `(num_targets, num_samples)` float32 for float32 `embeddings`
    `(num_targets, embedding_dim)` and `sampled_w` `(num_samples, embedding_dim)`, with operands
    (and, in the backward pass, the logits' gradient) rounded to `dtype` first.
    """
    if dtype == torch.float32:
        return embeddings @ sampled_w.t()
    return _RoundedOperandsProduct.apply(embeddings, sampled_w, dtype)


class _RoundedOperandsProduct(torch.autograd.Function):
    """`a @ b.T` of operands rounded to a 16-bit dtype, products summed in float32."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        a, b = a.to(dtype), b.to(dtype)
        ctx.save_for_backward(a, b)
        return _float32_product(a, b.t())

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, b = ctx.saved_tensors
        grad = grad.to(a.dtype)
        grad_a = _float32_product(grad, b) if ctx.needs_input_grad[0] else None
        grad_b = _float32_product(grad.t(), a) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


def _float32_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """
    `a @ b` `(n, m)` float32 for 16-bit `a` `(n, k)` and `b` `(k, m)`: on CUDA one tensor-core
    product with float32 accumulation and output (`out_dtype`); elsewhere (no such kernel) in
    float32, the same products (exact in float32) summed in another order.
    """
    if a.is_cuda:
        return torch.mm(a, b, out_dtype=torch.float32)
    return a.float() @ b.float()


def log_uniform_choice(
    num_words: int, num_samples: int, num_draws: int, device: torch.device
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    `num_draws` log-uniform draws from `[0, num_words)` (as allennlp's `_choice`: float64
    uniforms, `exp(u * log(num_words + 1)) - 1` truncated), then the first `num_samples`
    distinct words in draw order `(num_samples,)` int64 and `num_tries` (float32 scalar), the
    1-based position of the draw that gave the last of them.
    """
    uniforms = torch.rand(num_draws, dtype=torch.float64, device=device)
    draws = (torch.exp(uniforms * math.log(num_words + 1)).long() - 1).clamp_(0, num_words - 1)
    # Position of each word's first draw; num_draws for words never drawn.
    first_draw = torch.full((num_words,), num_draws, dtype=torch.long, device=device)
    first_draw.scatter_reduce_(
        0, draws, torch.arange(num_draws, device=device), reduce="amin", include_self=True
    )
    positions, words = torch.topk(first_draw, num_samples, largest=False, sorted=True)
    return words, (positions[-1] + 1).float()


def draws_for_distinct(probs: numpy.ndarray, num_samples: int) -> int:
    """
    The least number of draws `n` from the distribution `probs` whose expected number of
    distinct outcomes is `STD_MARGIN` standard deviations (bounded by the sum of the
    indicators' variances) above `num_samples`.
    """

    def margin(num_draws: int) -> float:
        drawn = -numpy.expm1(num_draws * numpy.log1p(-probs))
        return drawn.sum() - STD_MARGIN * math.sqrt((drawn * (1 - drawn)).sum()) - num_samples

    low, high = num_samples, 2 * num_samples
    while margin(high) < 0:
        low, high = high, 2 * high
    while low < high:
        middle = (low + high) // 2
        if margin(middle) < 0:
            low = middle + 1
        else:
            high = middle
    return low
