import json
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_bfloat16_lstm_on_the_cpu_is_close_to_float32_at_every_gradient_scale(tmp_path):
    output = tmp_path / "result.json"
    command = [
        sys.executable, "benchmarks/lstm_precision.py", "--device", "cpu", "--size", "small",
        "--dtypes", "bfloat16", "--scales", "1,1e-6", "--output", str(output),
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout)
    assert printed == json.loads(output.read_text())
    assert set(printed["by_scale"]) == {"1", "1e-6"}
    for by_dtype in printed["by_scale"].values():
        figures = by_dtype["bfloat16"]
        # bfloat16 rounding (8 bits of mantissa), not float32's figures exactly.
        assert 1e-4 < figures["output_relative_error"] < 0.05
        assert 1e-4 < figures["gradient_relative_error"] < 0.05
        assert figures["gradient_underflow_share"] < 0.01


def test_an_unknown_dtype_is_refused():
    command = [
        sys.executable, "benchmarks/lstm_precision.py", "--device", "cpu", "--dtypes", "int8",
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "--dtypes: 'int8' is not one of" in result.stderr
