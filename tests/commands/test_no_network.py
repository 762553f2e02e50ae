"""
allennlp commands with the plugin stay off the network: `allennlp train` and `allennlp
predict`, run as a user runs them, with every connection and host-name lookup of the process
refused and recorded, attempt none and print no nltk download errors.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap

from tests.conftest import FIXTURES, REPO_ROOT

TIMEOUT_SECONDS = 300

# Refuses and records (one line per attempt, in $NETWORK_ATTEMPTS) every connection, host-name
# lookup and urlopen, then processes $STARTUP_SITE as an installed site-packages directory.
SITECUSTOMIZE = textwrap.dedent(
    """
    import os
    import site
    import socket
    import traceback
    import urllib.request

    def _refuse(name):
        def refused(*args, **kwargs):
            with open(os.environ["NETWORK_ATTEMPTS"], "a") as attempts:
                stack = "".join(traceback.format_stack(limit=6)).replace("\\n", " | ")
                attempts.write(f"{name}{args!r:.200}: {stack}\\n")
            raise OSError(f"network refused by the test: {name}")
        return refused

    socket.socket.connect = _refuse("socket.connect")
    socket.socket.connect_ex = _refuse("socket.connect_ex")
    socket.create_connection = _refuse("socket.create_connection")
    socket.getaddrinfo = _refuse("socket.getaddrinfo")
    urllib.request.urlopen = _refuse("urllib.request.urlopen")
    site.addsitedir(os.environ["STARTUP_SITE"])
    """
)


def test_train_and_predict_attempt_no_connection_and_print_no_download_errors(tmp_path):
    hooks, startup_site = tmp_path / "hooks", tmp_path / "site-packages"
    hooks.mkdir()
    startup_site.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    # What installing the project puts into site-packages (setup.py).
    shutil.copy(REPO_ROOT / "taglm_plugin_startup.pth", startup_site)
    attempts = tmp_path / "network_attempts.txt"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(hooks), str(REPO_ROOT)]),
        NETWORK_ATTEMPTS=str(attempts),
        STARTUP_SITE=str(startup_site),
    )
    run = tmp_path / "run"
    (tmp_path / "in.jsonl").write_text(json.dumps({"sentence": "Marta flew to Lisbon."}) + "\n")
    allennlp = [sys.executable, "-m", "allennlp"]
    commands = {
        "train": [
            *allennlp, "train", str(FIXTURES / "tagger" / "baseline_tagger.jsonnet"),
            "-s", str(run), "--include-package", "taglm_plugin",
            "-o", json.dumps({"trainer.num_epochs": 1}),
        ],
        "predict": [
            *allennlp, "predict", str(run / "model.tar.gz"), str(tmp_path / "in.jsonl"),
            "--predictor", "taglm_tagger", "--include-package", "taglm_plugin", "--silent",
            "--output-file", str(tmp_path / "out.jsonl"),
        ],
    }  # fmt: skip
    for name, command in commands.items():
        result = subprocess.run(
            command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
            timeout=TIMEOUT_SECONDS,
        )  # fmt: skip
        assert result.returncode == 0, f"{name} failed:\n{result.stderr[-3000:]}"
        assert not attempts.exists(), f"{name} went to the network:\n{attempts.read_text()}"
        assert "nltk" not in result.stderr.lower(), f"{name}:\n{result.stderr[-3000:]}"
        assert "error loading" not in result.stderr.lower(), f"{name}:\n{result.stderr[-3000:]}"
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1
