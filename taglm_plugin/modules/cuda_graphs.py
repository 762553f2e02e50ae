"""
CUDA graphs for computations that launch many small kernels: captured once per input shape
and replayed, they cost one launch from the host instead of one per kernel.

`CudaGraphCache` keeps the graphs of one function by key; `LossWithPrecomputedGradients` turns
a graph that computes a loss together with its gradients (autograd inside the graph) into an
autograd function whose backward pass only scales the kept gradients.
"""
from collections import OrderedDict
from typing import Callable, Hashable, Optional, Sequence, Tuple

import torch


# How many `CudaGraph`s are being prepared (warm-up run and capture) right now.
_graphs_in_preparation = 0


def cuda_graphs_usable(tensor: torch.Tensor) -> bool:
    """
    Whether a computation on `tensor` may run as a CUDA graph of its own: it is on a GPU, no
    graph is being captured or prepared (a computation inside another's graph runs eagerly
    there), and autocast is off (autocast caches casts of parameters, which a graph would
    capture).
    """
    return (
        tensor.is_cuda
        and _graphs_in_preparation == 0
        and not torch.cuda.is_current_stream_capturing()
        and not torch.is_autocast_enabled()
    )


class CudaGraph:
    """
    `function(*inputs)` captured as one CUDA graph for inputs of fixed shapes, dtypes and
    device (those of `examples`). A call copies its inputs into the graph's own; an input
    smaller than the captured shape fills the leading part of a zeroed input. It returns the
    graph's output tensors, which the next call of this or any graph sharing its memory `pool`
    overwrites: use them before that.
    """

    def __init__(
        self,
        function: Callable[..., Tuple[torch.Tensor, ...]],
        examples: Sequence[torch.Tensor],
        pool: Optional[Tuple[int, int]] = None,
    ) -> None:
        global _graphs_in_preparation
        self._inputs = [torch.zeros_like(example) for example in examples]
        _graphs_in_preparation += 1
        try:
            # Lazy initializations (cuBLAS handles, autograd's streams, cuDNN plans) must
            # happen before capture.
            side_stream = torch.cuda.Stream()
            side_stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side_stream):
                function(*self._inputs)
            torch.cuda.current_stream().wait_stream(side_stream)
            self._graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self._graph, pool=pool):
                self._outputs = function(*self._inputs)
        finally:
            _graphs_in_preparation -= 1

    def __call__(self, *inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        for own, given in zip(self._inputs, inputs):
            if own.shape != given.shape:
                own.zero_()
            _leading_part(own, given.shape).copy_(given)
        self._graph.replay()
        return self._outputs


def _leading_part(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The leading `shape` part of `tensor` (itself when the shapes agree)."""
    if tensor.shape == shape:
        return tensor
    return tensor[tuple(slice(0, size) for size in shape)]


class CudaGraphCache:
    """
    Up to `max_graphs` `CudaGraph`s of one function by key, least recently used out. With
    `shared_pool` the graphs share one memory pool, so memory a graph needs only while it runs
    is held once for all of them, not once per graph; the outputs of every call must then be
    used before the next call.
    """

    def __init__(
        self,
        function: Callable[..., Tuple[torch.Tensor, ...]],
        max_graphs: int,
        shared_pool: bool = False,
    ) -> None:
        self._function = function
        self._max_graphs = max_graphs
        self._shared_pool = shared_pool
        self._pool: Optional[Tuple[int, int]] = None
        self._graphs: "OrderedDict[Hashable, CudaGraph]" = OrderedDict()

    def __len__(self) -> int:
        return len(self._graphs)

    def __call__(
        self,
        key: Hashable,
        examples: Callable[[], Sequence[torch.Tensor]],
        *inputs: torch.Tensor,
    ) -> Tuple[torch.Tensor, ...]:
        """
        `function(*inputs)` by the graph for `key`, captured if new on the tensors `examples`
        makes (called only then, so calls that replay allocate nothing).
        """
        graph = self._graphs.pop(key, None)
        if graph is None:
            if self._shared_pool and self._pool is None:
                self._pool = torch.cuda.graph_pool_handle()
            graph = CudaGraph(self._function, examples(), self._pool)
            if len(self._graphs) >= self._max_graphs:
                self._graphs.popitem(last=False)
        self._graphs[key] = graph
        return graph(*inputs)


class LossWithPrecomputedGradients(torch.autograd.Function):
    """
    A scalar loss whose gradients were computed together with it (by a CUDA graph running
    autograd inside): the backward pass only scales the kept gradients.

    `LossWithPrecomputedGradients.apply(compute, *inputs)` returns `(loss, *outputs)`, where
    `compute(*inputs)` returns `(loss, outputs, gradients)`: `outputs` a tuple of further
    tensors (not differentiable) and `gradients` one gradient of the loss (or `None`) per
    input (those of inputs that need none are dropped); a gradient larger than its input
    (that of a graph's padded input) is taken in its leading part. All are copied, so a later
    call of `compute` may overwrite what it returned.
    """

    @staticmethod
    def forward(ctx, compute, *inputs):  # type: ignore
        loss, outputs, gradients = compute(*inputs)
        ctx.has_gradient = [
            needed and gradient is not None
            for gradient, needed in zip(gradients, ctx.needs_input_grad[1:])
        ]
        kept = [
            _leading_part(gradient, given.shape)
            for gradient, given, has_gradient in zip(gradients, inputs, ctx.has_gradient)
            if has_gradient
        ]
        # Copied by one (fused) kernel launch: there can be dozens of them.
        ctx.gradients = torch._foreach_mul(kept, 1.0) if kept else []
        outputs = tuple(output.clone() for output in outputs)
        ctx.mark_non_differentiable(*outputs)
        return (loss.clone(),) + outputs

    @staticmethod
    def backward(ctx, grad_loss, *grad_outputs):  # type: ignore
        scaled = iter(torch._foreach_mul(ctx.gradients, grad_loss) if ctx.gradients else [])
        return (None,) + tuple(next(scaled) if kept else None for kept in ctx.has_gradient)
