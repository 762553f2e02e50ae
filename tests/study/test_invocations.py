"""`invocations.json`: each invocation of a study on its directory, with its command line,
the plugin's commit and the machine."""
import json
import subprocess

from taglm_plugin.study.invocations import (
    COMMIT_VARIABLE,
    INVOCATIONS_FILE,
    plugin_commit,
    read_invocations,
    record_invocation,
)
from tests.conftest import REPO_ROOT


def test_each_invocation_is_appended(tmp_path, monkeypatch):
    monkeypatch.setenv(COMMIT_VARIABLE, "abc1234")
    assert read_invocations(tmp_path) == []
    record_invocation(tmp_path, ["allennlp", "taglm-study", "my study", "--seeds", "3"], -1)
    record_invocation(tmp_path, ["allennlp", "taglm-study", "my study"], -1)
    first, second = json.loads((tmp_path / INVOCATIONS_FILE).read_text())
    assert first["command"] == "allennlp taglm-study 'my study' --seeds 3"
    assert second["command"] == "allennlp taglm-study 'my study'"
    assert first["commit"] == "abc1234" and first["gpu"] is None and first["cpu_cores"] >= 1
    assert set(first) == {"started", "command", "commit", "gpu", "cpu_cores", "python", "torch"}
    assert first["started"] <= second["started"]
    assert read_invocations(tmp_path) == [first, second]


def test_commit_of_the_checkout_without_the_variable(monkeypatch):
    monkeypatch.delenv(COMMIT_VARIABLE, raising=False)
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                          capture_output=True, text=True)  # fmt: skip
    expected = head.stdout.strip() if head.returncode == 0 else "unknown"
    assert plugin_commit() == expected
