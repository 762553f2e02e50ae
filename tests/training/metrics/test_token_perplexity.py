import math

import pytest
import torch
from allennlp.training.metrics import Metric, Perplexity

import taglm_plugin.training.metrics.token_perplexity  # noqa: F401  (registers the metric)


def test_weights_every_token_equally_unlike_the_batch_average():
    metric = Metric.by_name("taglm_token_perplexity")()
    batch_average = Perplexity()
    # Batch 1: 1 token with NLL 4; batch 2: 3 tokens with NLL 1 each.
    for summed_nll, num_tokens in ((4.0, 1), (3.0, 3)):
        metric(torch.tensor(summed_nll), num_tokens)
        batch_average(torch.tensor(summed_nll / num_tokens))
    assert metric.get_metric() == pytest.approx(math.exp(7.0 / 4))
    assert batch_average.get_metric() == pytest.approx(math.exp((4.0 + 1.0) / 2))
    assert metric.get_metric(reset=True) == pytest.approx(math.exp(7.0 / 4))
    assert metric.get_metric() == 0.0

