import math

import torch
from allennlp.nn.util import dist_reduce_sum
from allennlp.training.metrics.metric import Metric

from taglm_plugin.common.config_keys import ChecksConfigKeys


@Metric.register("taglm_token_perplexity")
class TokenPerplexity(ChecksConfigKeys, Metric):
    """
    Perplexity over all tokens seen since the last reset: `exp(total NLL / total tokens)`, the
    mean of the per-token negative log likelihoods, however the tokens were split into batches
    (allennlp's `Perplexity` averages the batch means instead, which weighs the tokens of short
    batches more).

    Registered as a `Metric` with name "taglm_token_perplexity".
    """

    def __init__(self) -> None:
        self._total_nll = 0.0
        self._num_tokens = 0

    def __call__(self, summed_nll: torch.Tensor, num_tokens: int) -> None:  # type: ignore
        """
        # Parameters

        summed_nll : `torch.Tensor`
            Scalar, the sum of `-log p(token)` over the batch's tokens (natural log).
        num_tokens : `int`
            How many tokens `summed_nll` sums over.
        """
        self._total_nll += float(summed_nll.detach())
        self._num_tokens += int(num_tokens)

    def get_metric(self, reset: bool = False) -> float:
        """`exp(total NLL / total tokens)` over all workers' tokens; `0.0` before any token."""
        counts = torch.tensor([self._total_nll, self._num_tokens], dtype=torch.float64)
        total_nll, num_tokens = dist_reduce_sum(counts).tolist()
        perplexity = math.exp(total_nll / num_tokens) if num_tokens else 0.0
        if reset:
            self.reset()
        return perplexity

    def reset(self) -> None:
        self._total_nll = 0.0
        self._num_tokens = 0
