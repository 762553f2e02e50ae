import math
import socket

import pytest
import torch
import torch.multiprocessing as mp
from allennlp.common.testing.distributed_test import init_process
from allennlp.training.metrics import Metric, Perplexity

import taglm_plugin.lm.token_perplexity  # noqa: F401  (registers the metric)


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


# (summed NLL, tokens) of the batches of two workers; worker 0 has one batch more, and the NLLs
# are not float32 numbers.
WORKER_BATCHES = [
    [(torch.tensor(3.1, dtype=torch.float64), 2), (torch.tensor(1e-4, dtype=torch.float64), 1)],
    [(torch.tensor(123456.7, dtype=torch.float64), 50000)],
]


def single_process_perplexity() -> float:
    metric = Metric.by_name("taglm_token_perplexity")()
    for batches in WORKER_BATCHES:
        for summed_nll, num_tokens in batches:
            metric(summed_nll, num_tokens)
    return metric.get_metric()


def sum_over_workers(global_rank: int, world_size: int, gpu_id: int, expected: float) -> None:
    metric = Metric.by_name("taglm_token_perplexity")()
    for summed_nll, num_tokens in WORKER_BATCHES[global_rank]:
        metric(summed_nll, num_tokens)
    assert metric.get_metric(reset=True) == expected
    assert metric.get_metric() == 0.0


def test_counts_are_summed_over_distributed_workers_when_read():
    """
    Two gloo workers with different numbers of batches read the perplexity of all their tokens,
    exactly the single-process figure.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.start_processes(
        init_process,
        args=(2, [-1, -1], sum_over_workers, (single_process_perplexity(),), {}, "127.0.0.1", port),
        nprocs=2,
        start_method="fork",
    )
