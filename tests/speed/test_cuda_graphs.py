import contextlib
from types import SimpleNamespace
from unittest import mock

import pytest
import torch

from taglm_plugin.speed.conditional_random_field import FastConditionalRandomField
from taglm_plugin.speed.cuda_graphs import (
    CudaGraphCache,
    GraphedLoss,
    _gradients,
    _GraphInputs,
    cuda_graphs_usable,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


@pytest.fixture
def no_tf32(monkeypatch):
    """Full float32 matrix products, so graphed and eager results (whose cuDNN algorithms may
    differ with the padded length) agree to float32 rounding, not to TF32's."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)


def test_graph_inputs_copy_pads_smaller_inputs_with_zeros():
    inputs = _GraphInputs([torch.empty(2, 4), torch.empty(2, 4, dtype=torch.bool)])
    inputs.tensors[0].fill_(7.0)
    inputs.copy([torch.ones(2, 3), torch.ones(2, 4, dtype=torch.bool)])
    assert inputs.tensors[0].tolist() == [[1, 1, 1, 0], [1, 1, 1, 0]]
    assert inputs.tensors[1].all()
    with pytest.raises(ValueError, match="expected 2 graph inputs, got 1"):
        inputs.copy([torch.ones(2, 4)])


def test_graph_inputs_start_as_a_valid_batch_with_every_token_real():
    """The warm-up and capture of a graph run on its inputs before any copy: the CRF's gold
    score gathers at the last real token, which a mask without one would put at -1."""
    examples = [
        torch.empty(2, 5, 3),
        torch.empty(2, 5, dtype=torch.long),
        torch.empty(2, 5, dtype=torch.bool),
    ]
    logits, tags, mask = _GraphInputs(examples).tensors
    assert mask.all() and not tags.any() and not logits.any()
    assert torch.isfinite(FastConditionalRandomField(3)(logits, tags, mask))


def test_gradients_are_none_for_none_and_unused_targets():
    x, unused = torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)
    assert [
        None if g is None else g.tolist()
        for g in _gradients((2 * x).sum(), [None, x, unused], retain_graph=False)
    ] == [None, [2.0, 2.0, 2.0], None]


class TinyTagger(torch.nn.Module):
    """A left-to-right LSTM (cuDNN on the GPU; padding at the end changes nothing before it)
    and a projection: a loss of padded inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(3, 4, batch_first=True)
        self.projection = torch.nn.Linear(4, 2)

    def loss_and_scores(self, inputs, mask):
        scores = self.projection(self.lstm(inputs)[0])
        return (scores.pow(2).sum(-1) * mask).sum(), scores

    def graphed(self, inputs, mask):
        """What a `TrainingCudaGraph` captures."""
        inputs = inputs.detach().requires_grad_()
        loss, scores = self.loss_and_scores(inputs, mask)
        return loss, (scores.detach(),), [inputs, None] + list(self.parameters())


@cuda
def test_training_graphs_give_eager_gradients_and_follow_parameter_updates(no_tf32):
    torch.manual_seed(0)
    model = TinyTagger().cuda()
    cache = CudaGraphCache(model.graphed, 4, shared_pool=True, training=True)
    parameters = list(model.parameters())
    for step in range(3):
        inputs = torch.randn(5, 6, 3, device="cuda", requires_grad=True)
        mask = torch.rand(5, 6, device="cuda") > 0.3

        def examples():
            return [inputs.new_empty(5, 8, 3), mask.new_empty(5, 8)]

        graph = cache.graph("shape", examples)
        loss, scores = GraphedLoss.apply(graph, inputs, mask, *parameters)
        actual = torch.autograd.grad(3.0 * loss, [inputs] + parameters)
        expected_loss, expected_scores = model.loss_and_scores(inputs, mask)
        expected = torch.autograd.grad(3.0 * expected_loss, [inputs] + parameters)
        torch.testing.assert_close(loss, expected_loss)
        torch.testing.assert_close(scores[:, :6], expected_scores)
        for actual_gradient, expected_gradient in zip(actual, expected):
            # cuDNN's algorithms differ with the padded length (float32 sums in another order);
            # a graph that missed the parameter updates would be off by orders of magnitude more.
            torch.testing.assert_close(actual_gradient, expected_gradient, rtol=2e-3, atol=2e-3)
        with torch.no_grad():  # an optimizer step: the graph must read the new values
            for parameter, gradient in zip(parameters, actual[1:]):
                parameter.sub_(0.1 * gradient)
    assert len(cache) == 1


@cuda
def test_two_forward_passes_before_a_backward_pass_raise():
    model = TinyTagger().cuda()
    cache = CudaGraphCache(model.graphed, 4, shared_pool=True, training=True)
    inputs = torch.randn(2, 3, 3, device="cuda", requires_grad=True)
    mask = torch.ones(2, 3, dtype=torch.bool, device="cuda")

    def examples(length):
        return lambda: [inputs.new_empty(2, length, 3), mask.new_empty(2, length)]

    losses = []
    for length in (3, 4):
        graph = cache.graph(length, examples(length))
        losses.append(GraphedLoss.apply(graph, inputs, mask, *model.parameters())[0])
    with pytest.raises(RuntimeError, match="must follow its forward pass"):
        losses[0].backward()


@pytest.fixture
def captures_on_the_cpu(monkeypatch):
    """torch.cuda's streams and graphs as stand-ins that do nothing, so that `CudaGraph` and
    `TrainingCudaGraph` run their function (warm-up, then capture) on the CPU; no stream is
    capturing, and a replay recomputes nothing."""
    for name in ("Stream", "current_stream", "stream", "CUDAGraph"):
        monkeypatch.setattr(torch.cuda, name, mock.MagicMock())
    monkeypatch.setattr(torch.cuda, "graph", lambda graph, pool=None: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "graph_pool_handle", lambda: (0, 0))
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: False)


A_GPU_TENSOR = SimpleNamespace(is_cuda=True)


@pytest.mark.parametrize("training", [False, True])
def test_no_computation_is_graphed_while_a_graph_is_captured(captures_on_the_cpu, training):
    usable = []

    def function(inputs):
        usable.append(cuda_graphs_usable(A_GPU_TENSOR))
        inputs = inputs.detach().requires_grad_()
        loss = inputs.sum()
        return (loss, (), [inputs]) if training else (loss,)

    assert cuda_graphs_usable(A_GPU_TENSOR)
    CudaGraphCache(function, 2, training=training).graph("key", lambda: [torch.ones(3)])
    assert usable == [False, False]  # the warm-up, the capture
    assert cuda_graphs_usable(A_GPU_TENSOR)


@pytest.mark.parametrize("shared_pool", [False, True])
def test_a_capture_inside_a_capture_is_refused(captures_on_the_cpu, shared_pool):
    inner = CudaGraphCache(lambda inputs: (2 * inputs,), 2, shared_pool=shared_pool)
    outer = CudaGraphCache(
        lambda inputs: inner("key", lambda: [inputs], inputs), 2, shared_pool=shared_pool
    )
    with pytest.raises(RuntimeError, match="started while another graph is being captured"):
        outer.graph("key", lambda: [torch.ones(3)])
    assert len(outer) == len(inner) == 0
    inner.graph("key", lambda: [torch.ones(3)])  # captures again after the refused one
    assert len(inner) == 1 and cuda_graphs_usable(A_GPU_TENSOR)


@cuda
def test_a_graphed_crf_inside_a_graph_takes_its_plain_path(no_tf32):
    torch.manual_seed(0)
    crf = FastConditionalRandomField(5).cuda()
    logits = torch.randn(3, 7, 5, device="cuda")
    tags = torch.randint(5, (3, 7), device="cuda")
    mask = torch.ones(3, 7, dtype=torch.bool, device="cuda")
    outer = CudaGraphCache(lambda *inputs: (crf(*inputs).detach(),), 2)
    (graphed,) = outer("key", lambda: [logits, tags, mask], logits, tags, mask)
    assert len(crf._log_likelihood_graphs) == 0  # neither in the warm-up nor in the capture
    torch.testing.assert_close(graphed, crf.log_likelihood_without_graph(logits, tags, mask))
    torch.testing.assert_close(graphed, crf(logits, tags, mask))  # by the CRF's own graph
    assert len(crf._log_likelihood_graphs) == 1


@cuda
def test_a_capture_inside_a_capture_is_refused_on_the_gpu():
    inner = CudaGraphCache(lambda inputs: (2 * inputs,), 2)
    outer = CudaGraphCache(lambda inputs: inner("key", lambda: [inputs], inputs), 2)
    inputs = torch.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match="started while another graph is being captured"):
        outer("key", lambda: [inputs], inputs)
    (doubled,) = inner("key", lambda: [inputs], inputs)
    assert doubled.tolist() == [2.0, 2.0, 2.0]
