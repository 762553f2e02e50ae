import os
from pathlib import Path

# One intra-op thread: the test models are tiny, and on a small shared CPU torch's thread
# pool makes them 10-100x slower. Subprocesses (CLI tests) inherit the variable.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The LM configs' token cache is built in this process (the tests' texts are tiny);
# tests/lm/test_lm_token_cache.py covers the tokenizing processes.
os.environ.setdefault("LM_TOKENIZING_PROCESSES", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The read-only benchmark data beside the checkout; tests that need it skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not available")
    return SHARED_DATA


def count_calls(monkeypatch, owner, name: str) -> list:
    """The arguments of every later call of `owner.name` (a function or classmethod, which
    still runs), as a list that grows with the calls."""
    calls = []
    function = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


class EagerCudaGraph:
    """
    A stand-in for `taglm_plugin.speed.cuda_graphs.CudaGraph` on the CPU: the same input
    copying (zero-filled padding), the function run eagerly on the graph's own inputs.
    """

    def __init__(self, function, examples, pool):
        from taglm_plugin.speed.cuda_graphs import _GraphInputs

        self._function = function
        self._inputs = _GraphInputs(examples)

    def __call__(self, *inputs):
        self._inputs.copy(inputs)
        return self._function(*self._inputs.tensors)


class EagerTrainingCudaGraph(EagerCudaGraph):
    """A stand-in for `TrainingCudaGraph` on the CPU: forward and backward run eagerly."""

    @property
    def num_inputs(self):
        return len(self._inputs.tensors)

    def forward(self, *inputs):
        with torch.enable_grad():
            self._loss, outputs, self._targets = self(*inputs)
        return self._loss.detach(), outputs

    def backward(self):
        from taglm_plugin.speed.cuda_graphs import _gradients

        return _gradients(self._loss, self._targets, retain_graph=False)


@pytest.fixture
def eager_cuda_graphs(monkeypatch):
    """CUDA graph captures replaced by eager stand-ins, so the graph paths run on the CPU."""
    from taglm_plugin.speed import cuda_graphs

    monkeypatch.setattr(cuda_graphs, "CudaGraph", EagerCudaGraph)
    monkeypatch.setattr(cuda_graphs, "TrainingCudaGraph", EagerTrainingCudaGraph)
