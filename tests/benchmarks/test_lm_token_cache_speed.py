import json
import subprocess
import sys

from tests.conftest import FIXTURES, REPO_ROOT

WIKI_ARCHIVE = str(FIXTURES / "lm" / "enwiki_sample.tar.gz")


def test_reports_both_builds_and_both_vocabularies_checked_equal(tmp_path):
    output = tmp_path / "result.json"
    command = [sys.executable, "benchmarks/lm_token_cache_speed.py", WIKI_ARCHIVE,
               "--processes", "2", "--output", str(output)]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout)
    assert printed == json.loads(output.read_text())
    assert printed["tokens"] > 0 and printed["equal"] and printed["vocabulary"]["equal"]
    assert printed["2_processes"]["seconds"] > 0 and printed["ratio"] > 0
    assert printed["vocabulary"]["ratio"] > 0
