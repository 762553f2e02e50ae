import json
import subprocess
import sys

from tests.conftest import FIXTURES, REPO_ROOT

WIKI_ARCHIVE = str(FIXTURES / "lm" / "enwiki_sample.tar.gz")


def test_small_lm_on_the_cpu_reports_throughput_cache_cost_and_perplexities(tmp_path):
    output = tmp_path / "result.json"
    command = [
        sys.executable, "benchmarks/lm_throughput.py", "--data", WIKI_ARCHIVE, "--size", "small",
        "--device", "cpu", "--precisions", "float32,bfloat16", "--held-out-every", "3",
        "--warmup-steps", "1", "--steps", "2", "--loader-batches", "3",
        "--reader-loader-batches", "1", "--perplexity-steps", "1", "--output", str(output),
        "--softmax-precision", "bfloat16", "--pad-types-to-multiple", "64",
        "--component-steps", "2", "--prefetch-batches", "2", "--char-cnn", "fused",
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout)
    assert printed == json.loads(output.read_text())
    assert printed["cache_build_or_load_seconds"] > 0 and printed["train_tokens"] > 0
    assert printed["loader_tokens_per_second"] > 0
    assert printed["reader_loader_tokens_per_second"] > 0
    assert printed["softmax_precision"] == "bfloat16" and printed["pad_types_to_multiple"] == 64
    assert printed["prefetch_batches"] == 2 and printed["char_cnn"] == "fused"
    for precision in ("float32", "bfloat16"):
        assert printed["throughput"][precision]["tokens_per_second"] > 0
        assert printed["perplexity"]["held_out"][precision] > 1
        parts = printed["throughput"][precision]["component_ms_per_step"]
        assert set(parts) == {"char_cnn", "lstm", "softmax", "step", "rest"}
        assert all(parts[name] > 0 for name in ("char_cnn", "lstm", "softmax", "step"))
    assert abs(printed["perplexity"]["relative_difference_to_float32"]["bfloat16"]) < 0.01


def test_float16_needs_a_gpu():
    command = [
        sys.executable, "benchmarks/lm_throughput.py", "--data", WIKI_ARCHIVE, "--size", "small",
        "--device", "cpu", "--precisions", "float16",
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "float16 (use_amp) needs a CUDA --device" in result.stderr
