"""
CUDA graphs for computations that launch many small kernels: captured once per input shape
and replayed, they cost one launch from the host instead of one per kernel.

* `CudaGraph`: a function of tensors.
* `TrainingCudaGraph` with `GraphedLoss`: a loss as two graphs, the forward pass and the
  backward pass, replayed by an autograd function's forward and backward.
* `LossWithPrecomputedGradients`: a loss whose graph computes its gradients in the same pass.
* `CudaGraphCache`: the graphs of one function by key (input shapes), optionally in one memory
  pool.

Graphs do not nest: while a `CudaGraphCache` captures a graph (its warm-up run included),
`cuda_graphs_usable` is False, so that graphed computations which the graph's function calls
take their plain path, and a capture started anyway raises a `RuntimeError`.
"""
import contextlib
from collections import OrderedDict
from typing import Any, Callable, Hashable, Iterator, List, Optional, Sequence, Tuple, Union

import torch

# Whether a `CudaGraphCache` is capturing a graph (warming it up or capturing it) now.
_capturing = False


def cuda_graphs_usable(tensor: torch.Tensor) -> bool:
    """
    Whether a computation on `tensor` may run as a CUDA graph: it is on a GPU, no graph is
    being captured (by a `CudaGraphCache`, warm-up included, or on the current stream by other
    code), and autocast is off (autocast caches casts of parameters, which a graph would
    capture).
    """
    return (
        tensor.is_cuda
        and not _capturing
        and not torch.cuda.is_current_stream_capturing()
        and not torch.is_autocast_enabled()
    )


@contextlib.contextmanager
def _capture() -> Iterator[None]:
    """The scope of one graph's warm-up and capture; `RuntimeError` inside another's."""
    global _capturing
    if _capturing:
        raise RuntimeError(
            "a CUDA graph capture was started while another graph is being captured: a graphed "
            "function must not call a graphed computation, or only where cuda_graphs_usable() "
            "is True (which it is not during a capture), taking the plain path otherwise"
        )
    _capturing = True
    try:
        yield
    finally:
        _capturing = False


class GraphPool:
    """
    The memory pool of one or more CUDA graphs (`shared`: one pool for all graphs given this
    object; otherwise each graph's own), and a count of their replays, by which a graph can
    tell whether memory it keeps between two replays may have been overwritten.
    """

    def __init__(self, shared: bool) -> None:
        self._shared = shared
        self._handle: Optional[Tuple[int, int]] = None
        self.replays = 0

    @property
    def handle(self) -> Optional[Tuple[int, int]]:
        """What `torch.cuda.graph(pool=...)` takes."""
        if self._shared and self._handle is None:
            self._handle = torch.cuda.graph_pool_handle()
        return self._handle


def _warm_up(function: Callable[[], object]) -> None:
    """Run `function` once on a side stream: lazy initializations (cuBLAS handles, autograd's
    streams, cuDNN plans) must happen before a capture."""
    side_stream = torch.cuda.Stream()
    side_stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side_stream):
        function()
    torch.cuda.current_stream().wait_stream(side_stream)


class _GraphInputs:
    """
    A graph's own input tensors: copies of `examples` holding zeros, and True for masks (bool
    tensors), so that the warm-up and the capture run on a valid batch (every token real, tag
    ids 0: the CRF's gold score gathers at the last real token).
    """

    def __init__(self, examples: Sequence[torch.Tensor]) -> None:
        self.tensors = [
            torch.ones_like(example) if example.dtype == torch.bool else torch.zeros_like(example)
            for example in examples
        ]

    def copy(self, inputs: Sequence[torch.Tensor]) -> None:
        """Copy `inputs` in; one smaller than its graph input fills its zeroed leading part."""
        if len(inputs) != len(self.tensors):
            raise ValueError(f"expected {len(self.tensors)} graph inputs, got {len(inputs)}")
        for own, given in zip(self.tensors, inputs):
            if own.shape != given.shape:
                own.zero_()
            _leading_part(own, given.shape).copy_(given)


class CudaGraph:
    """
    `function(*inputs)` captured as one CUDA graph for inputs of fixed shapes, dtypes and
    device (those of `examples`). A call copies its inputs into the graph's own (see
    `_GraphInputs`) and returns the graph's output tensors, which the next call of this or any
    graph sharing its memory pool overwrites: use them before that.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        examples: Sequence[torch.Tensor],
        pool: GraphPool,
    ) -> None:
        self._inputs = _GraphInputs(examples)
        self._pool = pool
        _warm_up(lambda: function(*self._inputs.tensors))
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph, pool=pool.handle):
            self._outputs = function(*self._inputs.tensors)

    def __call__(self, *inputs: torch.Tensor) -> Any:
        self._inputs.copy(inputs)
        self._graph.replay()
        self._pool.replays += 1
        return self._outputs


def _gradients(
    loss: torch.Tensor, targets: Sequence[Optional[torch.Tensor]], retain_graph: bool
) -> List[Optional[torch.Tensor]]:
    """The gradients of `loss` with respect to `targets` (`None` for `None` or unused ones)."""
    present = [target for target in targets if target is not None]
    gradients = iter(
        torch.autograd.grad(loss, present, retain_graph=retain_graph, allow_unused=True)
    )
    return [None if target is None else next(gradients) for target in targets]


class TrainingCudaGraph:
    """
    A loss captured as two CUDA graphs for inputs of fixed shapes, dtypes and device (those
    of `examples`): the forward pass `function(*inputs)`, which returns `(loss, outputs,
    targets)` (a scalar, a tuple of further tensors, and what to differentiate the loss with
    respect to: leaves it made from inputs, or parameters, `None` elsewhere), and the backward
    pass, the gradients of the loss with respect to the `targets`. What the backward pass
    needs stays in memory between the two (and is kept for the next replays).

    `forward(*inputs)` copies the inputs in (see `_GraphInputs`) and returns `(loss,
    outputs)`; `backward()` returns the gradients, one per target (`None` where it is `None`).
    Both return the graph's own tensors, which the next replay overwrites. `backward()` raises
    a `RuntimeError` unless `forward` was this pool's last replay: another replay may have
    overwritten what the backward pass reads.
    """

    def __init__(
        self,
        function: Callable[..., Tuple[torch.Tensor, Tuple[torch.Tensor, ...], list]],
        examples: Sequence[torch.Tensor],
        pool: GraphPool,
    ) -> None:
        self._inputs = _GraphInputs(examples)
        self._pool = pool
        self._forward_replay: Optional[int] = None

        def forward() -> Tuple[torch.Tensor, Tuple[torch.Tensor, ...], list]:
            with torch.enable_grad():
                return function(*self._inputs.tensors)

        def warm_up() -> None:
            loss, _, targets = forward()
            _gradients(loss, targets, retain_graph=False)

        _warm_up(warm_up)
        self._forward_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._forward_graph, pool=pool.handle):
            # The loss keeps its autograd graph, and so the saved tensors, alive.
            self._loss, outputs, targets = forward()
        self._outputs = (self._loss.detach(), outputs)
        self._backward_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._backward_graph, pool=pool.handle):
            self._gradients = _gradients(self._loss, targets, retain_graph=True)

    @property
    def num_inputs(self) -> int:
        return len(self._inputs.tensors)

    def forward(self, *inputs: torch.Tensor) -> Tuple[torch.Tensor, Tuple[torch.Tensor, ...]]:
        self._inputs.copy(inputs)
        self._forward_graph.replay()
        self._pool.replays += 1
        self._forward_replay = self._pool.replays
        return self._outputs

    def backward(self) -> List[Optional[torch.Tensor]]:
        if self._forward_replay != self._pool.replays:
            raise RuntimeError(
                "the backward pass of a CUDA-graphed loss must follow its forward pass before "
                "any other graphed computation of the model (two forward passes before one "
                "backward pass are not supported; switch the model's cuda_graphs off for that)"
            )
        self._forward_replay = None
        self._backward_graph.replay()
        self._pool.replays += 1
        return self._gradients


class GraphedLoss(torch.autograd.Function):
    """
    `GraphedLoss.apply(graph, *inputs, *parameters)` -> `(loss, *outputs)` by the forward
    graph of `graph` (a `TrainingCudaGraph`, which takes the first `graph.num_inputs` of
    these; its function's targets are aligned with all of them); the backward pass replays
    its backward graph. A gradient larger than its input (that of a graph's padded input) is
    taken in its leading part. The outputs (not differentiable) and the gradients are copies.
    """

    @staticmethod
    def forward(ctx, graph, *inputs):  # type: ignore
        loss, outputs = graph.forward(*inputs[: graph.num_inputs])
        ctx.graph = graph
        ctx.shapes = [given.shape for given in inputs]
        outputs = tuple(output.clone() for output in outputs)
        ctx.mark_non_differentiable(*outputs)
        return (loss.clone(),) + outputs

    @staticmethod
    def backward(ctx, grad_loss, *grad_outputs):  # type: ignore
        gradients = ctx.graph.backward()
        return (None,) + _scaled(gradients, ctx.shapes, ctx.needs_input_grad[1:], grad_loss)


def _leading_part(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The leading `shape` part of `tensor` (itself when the shapes agree)."""
    if tensor.shape == shape:
        return tensor
    return tensor[tuple(slice(0, size) for size in shape)]


def _scaled(
    gradients: Sequence[Optional[torch.Tensor]],
    shapes: Sequence[torch.Size],
    needed: Sequence[bool],
    factor: Union[float, torch.Tensor],
) -> Tuple[Optional[torch.Tensor], ...]:
    """
    New tensors `factor * gradient` of the leading part of each gradient in the shape of its
    input (`shapes`), `None` where no gradient is given or `needed`; made by one fused kernel
    launch, as there can be dozens of them.
    """
    kept = [
        needed_here and gradient is not None for gradient, needed_here in zip(gradients, needed)
    ]
    parts = [
        _leading_part(gradient, shape).contiguous()
        for gradient, shape, keep in zip(gradients, shapes, kept)
        if keep
    ]
    scaled = iter(torch._foreach_mul(parts, factor) if parts else [])
    return tuple(next(scaled) if keep else None for keep in kept)


class CudaGraphCache:
    """
    Up to `max_graphs` graphs (`TrainingCudaGraph`s with `training`, else `CudaGraph`s) of
    one function by key, least recently used out. With `shared_pool` they share one memory pool,
    so memory a graph needs only while it runs is held once for all of them, not once per
    graph; the outputs of every call must then be used before the next call.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        max_graphs: int,
        shared_pool: bool = False,
        training: bool = False,
    ) -> None:
        self._function = function
        self._max_graphs = max_graphs
        self._shared_pool = shared_pool
        self._training = training
        self._pool: Optional[GraphPool] = None
        self._graphs: "OrderedDict[Hashable, Any]" = OrderedDict()

    def __len__(self) -> int:
        return len(self._graphs)

    def graph(self, key: Hashable, examples: Callable[[], Sequence[torch.Tensor]]) -> Any:
        """
        The graph for `key`, captured if new on the tensors `examples` makes (called only
        then, so calls that replay allocate nothing); a `RuntimeError` if that capture would
        start inside another's (see the module docstring).
        """
        graph = self._graphs.pop(key, None)
        if graph is None:
            if not self._shared_pool:
                pool = GraphPool(shared=False)
            elif self._pool is None:
                pool = self._pool = GraphPool(shared=True)
            else:
                pool = self._pool
            graph_type = TrainingCudaGraph if self._training else CudaGraph
            with _capture():
                graph = graph_type(self._function, examples(), pool)
            if len(self._graphs) >= self._max_graphs:
                self._graphs.popitem(last=False)
        self._graphs[key] = graph
        return graph

    def __call__(
        self, key: Hashable, examples: Callable[[], Sequence[torch.Tensor]], *inputs: torch.Tensor
    ) -> Any:
        """`function(*inputs)` by the `CudaGraph` for `key` (see `graph`)."""
        return self.graph(key, examples)(*inputs)


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
        ctx.shapes = [given.shape for given in inputs]
        ctx.gradients = _scaled(gradients, ctx.shapes, ctx.needs_input_grad[1:], 1.0)
        outputs = tuple(output.clone() for output in outputs)
        ctx.mark_non_differentiable(*outputs)
        return (loss.clone(),) + outputs

    @staticmethod
    def backward(ctx, grad_loss, *grad_outputs):  # type: ignore
        return (None,) + _scaled(ctx.gradients, ctx.shapes, ctx.needs_input_grad[1:], grad_loss)
