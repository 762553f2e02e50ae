"""
An archive whose config names a type that is not registered (a class path such as
`subprocess.Popen`) is refused before anything is imported or built for it: by
`taglm_plugin.common.safe_loading.load_archive`, by allennlp's `load_archive` with the plugin
imported, by the LM archives a TagLM config names, and by `allennlp evaluate` / `allennlp
predict` run with the plugin. The error names the config key, and no extracted temporary
directory is left behind.
"""
import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import TokenIndexer
from allennlp.models import Model, archival
from allennlp.modules import TokenEmbedder

from taglm_plugin.common import registered_types
from taglm_plugin.common.registered_types import UnregisteredTypeError
from taglm_plugin.common.safe_loading import load_archive
from taglm_plugin.lm.encoder_export import export_encoder_archive
from tests.bilm.tiny_bilms import (
    tiny_language_model_config,
    write_tiny_language_model,
)
from tests.conftest import REPO_ROOT
from tests.reliability.conftest import TINY_TAGGER_TRAIN
from tests.reliability.test_safe_loading import write_archive

EVIL_KEY = "dataset_reader.token_indexers.evil.type"


def evil_indexer(marker: Path):
    """The token indexer of issue 12: a class path that runs a shell command when built."""
    return {"type": "subprocess.Popen", "args": ["sh", "-c", f"echo pwned > {marker}"]}


def test_the_evil_indexer_runs_its_command_when_built_directly(tmp_path):
    # The payload is live: the class it names runs the command.
    marker = tmp_path / "marker"
    subprocess.Popen(**{k: v for k, v in evil_indexer(marker).items() if k != "type"}).wait()
    assert marker.exists()


def evil_tagger_archive(tmp_path: Path, tiny_tagger_dir: Path, marker: Path) -> Path:
    """The tiny tagger's archive, its reader given the default indexers plus the evil one."""
    config = json.loads((tiny_tagger_dir / "config.json").read_text())
    config["dataset_reader"]["token_indexers"] = {
        "tokens": {"type": "normalized_single_id"},
        "token_characters": {"type": "characters", "min_padding_length": 3},
        "evil": evil_indexer(marker),
    }
    return write_archive(
        tmp_path / "evil.tar.gz", tiny_tagger_dir, {"config.json": json.dumps(config).encode()}
    )


@pytest.fixture
def private_tempdir(tmp_path, monkeypatch) -> Path:
    """`tempfile`'s directory for the test: where an archive would be extracted."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.mark.parametrize("load", [load_archive, archival.load_archive], ids=["taglm", "allennlp"])
def test_a_tagger_archive_naming_an_unregistered_type_is_refused(
    tmp_path, tiny_tagger_dir, private_tempdir, load
):
    marker = tmp_path / "marker"
    path = evil_tagger_archive(tmp_path, tiny_tagger_dir, marker)
    with pytest.raises(UnregisteredTypeError, match=f"^{EVIL_KEY} = 'subprocess.Popen' is not"):
        load(path)
    assert not marker.exists()
    assert not list(private_tempdir.iterdir())


def test_the_archive_loads_with_a_registered_indexer_under_the_same_key(
    tmp_path, tiny_tagger_dir
):
    config = json.loads((tiny_tagger_dir / "config.json").read_text())
    config["dataset_reader"]["token_indexers"] = {"evil": {"type": "single_id"}}
    path = write_archive(
        tmp_path / "model.tar.gz", tiny_tagger_dir, {"config.json": json.dumps(config).encode()}
    )
    assert list(load_archive(path).dataset_reader.token_indexers) == ["evil"]


def test_an_unregistered_model_type_is_refused(tmp_path, tiny_tagger_dir, private_tempdir):
    # allennlp reads `model.type` itself (`Model.load`), not through `from_params`.
    config = json.loads((tiny_tagger_dir / "config.json").read_text())
    config["model"] = {"type": "subprocess.Popen", "args": ["touch", str(tmp_path / "marker")]}
    path = write_archive(
        tmp_path / "model.tar.gz", tiny_tagger_dir, {"config.json": json.dumps(config).encode()}
    )
    with pytest.raises(UnregisteredTypeError, match="'subprocess.Popen' is not a registered "
                                                    "name for Model"):  # fmt: skip
        load_archive(path)
    assert not (tmp_path / "marker").exists()
    assert not list(private_tempdir.iterdir())


def test_nothing_is_imported_for_an_unregistered_class_path(monkeypatch):
    monkeypatch.delitem(sys.modules, "json.tool", raising=False)
    for resolve in (
        lambda: TokenIndexer.by_name("json.tool.main"),
        lambda: TokenIndexer.from_params(Params({"type": "json.tool.main"})),
    ):
        with pytest.raises(UnregisteredTypeError):
            resolve()
        assert "json.tool" not in sys.modules


def test_applying_twice_changes_nothing():
    resolve_class_name = Model.resolve_class_name.__func__
    registered_types.apply()
    assert Model.resolve_class_name.__func__ is resolve_class_name
    assert Model.resolve_class_name("taglm_tagger")[0].__name__ == "TagLmTagger"


def evil_lm_archive(tmp_path: Path, marker: Path) -> str:
    config = tiny_language_model_config("forward")
    config["dataset_reader"]["token_indexers"]["evil"] = evil_indexer(marker)
    path, _ = write_tiny_language_model(tmp_path / "lm", config)
    return path


def test_an_lm_archive_naming_an_unregistered_type_is_refused(tmp_path, private_tempdir):
    marker = tmp_path / "marker"
    path = evil_lm_archive(tmp_path, marker)
    # What a TagLM config's frozen_bilm names.
    params = Params(
        {
            "type": "frozen_bilm",
            "expected_dim": 5,
            "directions": "forward",
            "pretrained_file": {"forward_archive": path},
        }
    )
    with pytest.raises(
        ConfigurationError, match=f"^pretrained_file.forward_archive = {path}: {EVIL_KEY} = "
    ):
        TokenEmbedder.from_params(copy.deepcopy(params))
    with pytest.raises(UnregisteredTypeError, match=f"^{EVIL_KEY} = "):
        export_encoder_archive(path, str(tmp_path / "encoder.tar.gz"))
    assert not marker.exists()
    assert not list(private_tempdir.iterdir())
    assert not (tmp_path / "encoder.tar.gz").exists()


def test_allennlp_evaluate_and_predict_refuse_the_archive(tmp_path, tiny_tagger_dir):
    marker = tmp_path / "marker"
    path = evil_tagger_archive(tmp_path, tiny_tagger_dir, marker)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"sentence": "Marta flew to Lisbon."}) + "\n")
    temp = {name: tmp_path / f"tmp_{name}" for name in ("evaluate", "predict")}
    commands = {
        "evaluate": ["evaluate", str(path), str(TINY_TAGGER_TRAIN)],
        "predict": ["predict", str(path), str(inputs), "--predictor", "taglm_tagger", "--silent"],
    }
    processes = {}
    for name, arguments in commands.items():
        temp[name].mkdir()
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "allennlp", *arguments, "--include-package", "taglm_plugin"],
            cwd=REPO_ROOT,
            env=dict(os.environ, TMPDIR=str(temp[name])),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=300)
        assert process.returncode != 0, f"{name} loaded the archive:\n{stderr[-3000:]}"
        assert f"UnregisteredTypeError: {EVIL_KEY} = 'subprocess.Popen'" in stderr, stderr[-3000:]
        assert not list(temp[name].iterdir()), name
    assert not marker.exists()
