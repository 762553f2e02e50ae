import math
from typing import Tuple

import numpy
import torch
from allennlp.modules.sampled_softmax_loss import SampledSoftmaxLoss

# How far (in standard deviations) below the expected number of distinct words the draws of
# one batch may fall before they give fewer than `num_samples` distinct words; the chance of
# that is below exp(-STD_MARGIN**2 / 2) (a Bernstein bound for the negatively associated
# "word drawn" indicators), i.e. never in practice.
STD_MARGIN = 12.0


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

    # Parameters

    num_words : `int`
        Words in the softmax (no padding entry).
    embedding_dim : `int`
    num_samples : `int`
        Distinct words sampled per batch, less than `num_words`.
    """

    def __init__(self, num_words: int, embedding_dim: int, num_samples: int) -> None:
        super().__init__(num_words, embedding_dim, num_samples)
        self.num_draws = draws_for_distinct(self._probs, num_samples)

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
        probs = torch.log((word_ids.float() + 2.0) / (word_ids.float() + 1.0)) / self._log_num_words_p1
        return -1.0 * (torch.exp(num_tries * torch.log1p(-probs)) - 1.0)


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
