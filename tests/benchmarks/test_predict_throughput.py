import json
import subprocess
import sys

from tests.conftest import FIXTURES, REPO_ROOT

TAGLM_ARCHIVE = str(FIXTURES / "archives" / "taglm_tagger.tar.gz")
DATA_FILE = str(FIXTURES / "tagger" / "conll2003" / "eng.testa")
VARIANT_KEYS = {
    "workers", "seconds", "sentences_per_second", "first_pass_seconds",
    "first_pass_sentences_per_second",
}  # fmt: skip


def run_benchmark(*options: str) -> dict:
    command = [
        sys.executable, "benchmarks/predict_throughput.py", TAGLM_ARCHIVE, DATA_FILE,
        "--workers", "0", "--repeats", "1", *options,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_reports_the_throughput_of_a_taglm_archive_on_the_cpu():
    printed = run_benchmark()
    assert printed["device"] == "cpu" and printed["sentences"] > 0 and printed["same_outputs"]
    assert "profile" not in printed
    (variant,) = printed["variants"]
    assert set(variant) == VARIANT_KEYS and variant["sentences_per_second"] > 0
    # The first pass is timed apart from the repeats, and fills the word caches they use.
    assert len(variant["seconds"]) == 1
    sentences = printed["sentences"]
    assert variant["first_pass_sentences_per_second"] == sentences / variant["first_pass_seconds"]


def test_profile_writes_the_profiler_table_of_one_more_pass(tmp_path):
    profile_file = tmp_path / "profile.txt"
    printed = run_benchmark("--profile", str(profile_file))
    assert printed["profile"] == str(profile_file) and printed["same_outputs"]
    (variant,) = printed["variants"]
    assert set(variant) == VARIANT_KEYS | {"profiled_pass_seconds"}
    assert len(variant["seconds"]) == 1  # the profiled pass is not among the timed ones
    assert variant["profiled_pass_seconds"] > 0
    table = profile_file.read_text()
    assert "on cpu" in table.splitlines()[0]
    assert "Python's garbage collections during the pass" in table
    assert "Sorted by self_cpu_time_total:" in table and "Self CPU time total" in table
    assert "self_device_time_total" not in table  # no CUDA table on the CPU
    header = next(line for line in table.splitlines() if "Self CPU %" in line)
    assert header.split()[0] == "Name"
    # The stages are labelled (those with the largest self CPU times of this tiny model).
    for stage in ("predict/model lm_embedder", "predict/collate", "predict/tokenize"):
        assert stage in table
