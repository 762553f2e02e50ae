import os
from pathlib import Path

# One intra-op thread: the test models are tiny, and on a small shared CPU torch's thread
# pool makes them 10-100x slower. Subprocesses (CLI tests) inherit the variable.
os.environ.setdefault("OMP_NUM_THREADS", "1")

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


class EagerCudaGraph:
    """
    A stand-in for `taglm_plugin.modules.cuda_graphs.CudaGraph` on the CPU: the same input
    copying (zero-filled padding), the function run eagerly on the graph's own inputs.
    """

    def __init__(self, function, examples, pool=None):
        self._function = function
        self._inputs = [torch.zeros_like(example) for example in examples]

    def __call__(self, *inputs):
        for own, given in zip(self._inputs, inputs):
            own.zero_()
            own[tuple(slice(0, size) for size in given.shape)].copy_(given)
        return self._function(*self._inputs)


@pytest.fixture
def eager_cuda_graphs(monkeypatch):
    """CUDA graph captures replaced by `EagerCudaGraph`, so the graph paths run on the CPU."""
    from taglm_plugin.modules import cuda_graphs

    monkeypatch.setattr(cuda_graphs, "CudaGraph", EagerCudaGraph)
