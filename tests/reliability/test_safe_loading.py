"""
Loading a model archive or a training checkpoint runs no code from it, and a broken archive
gives an error that names it.

allennlp's `load_archive` (used by `allennlp predict` / `evaluate`) is checked with the
plugin imported (its tar extraction filter on); `taglm_plugin.common.safe_loading.load_archive`
is checked for the clear errors, also where the plugin loads LM archives itself.
"""
import io
import pickle
import tarfile
import tempfile
import uuid
from pathlib import Path

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.models import archival
from allennlp.training.checkpointer import Checkpointer

from taglm_plugin.bilm.frozen_bilm import FrozenBiLmEmbedder
from taglm_plugin.common.safe_loading import ArchiveError, load_archive
from taglm_plugin.lm.encoder_export import export_encoder_archive
from tests.bilm.tiny_bilms import (
    tiny_language_model_config,
    write_tiny_language_model,
)


class WritesMarker:
    """Unpickling this runs `Path.write_text(marker, ...)`: a stand-in for any code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code from the file ran"))


def write_archive(path: Path, members: Path, replace=None, extra=()) -> Path:
    """A `.tar.gz` of `members`, with `replace` (name -> bytes, or None to leave a file out)
    and `extra` `TarInfo`s added."""
    replace = replace or {}
    with tarfile.open(path, "w:gz") as archive:
        for member in sorted(members.iterdir()):
            if member.name not in replace:
                archive.add(member, arcname=member.name)
        for name, data in replace.items():
            if data is not None:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        for info in extra:
            archive.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def pickled_payload(marker: Path) -> bytes:
    buffer = io.BytesIO()
    torch.save({"weight": WritesMarker(marker)}, buffer)
    return buffer.getvalue()


def test_an_intact_archive_loads(tmp_path, tiny_tagger_dir):
    path = write_archive(tmp_path / "model.tar.gz", tiny_tagger_dir)
    for load in (archival.load_archive, load_archive):
        archive = load(path)
        assert type(archive.model).__name__ == "TagLmTagger"


def test_weights_that_would_run_code_are_refused(tmp_path, tiny_tagger_dir):
    marker = tmp_path / "marker"
    payload = pickled_payload(marker)
    # The payload is live: unpickling it without weights_only runs it.
    torch.load(io.BytesIO(payload), weights_only=False)
    assert marker.exists()
    marker.unlink()
    path = write_archive(tmp_path / "model.tar.gz", tiny_tagger_dir, {"weights.th": payload})

    # allennlp reads weights.th with torch.load, weights-only by default since torch 2.6.
    with pytest.raises(pickle.UnpicklingError, match="Unsupported global"):
        archival.load_archive(path)
    with pytest.raises(ArchiveError) as error_info:
        load_archive(path)

    assert not marker.exists()
    message = str(error_info.value)
    assert message.startswith(f"model archive {path}: weights-only loading refused weights.th")
    assert "could run code" in message


@pytest.mark.parametrize("checkpointer_type", ["default", "taglm_crash_safe"])
def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, checkpointer_type):
    marker = tmp_path / "marker"
    torch.save({"weight": torch.zeros(2)}, tmp_path / "model_state_e1_b0.th")
    (tmp_path / "training_state_e1_b0.th").write_bytes(pickled_payload(marker))
    checkpointer = Checkpointer.by_name(checkpointer_type)(serialization_dir=tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="Unsupported global"):
        checkpointer.load_checkpoint()
    assert not marker.exists()


def escaping_members(outside: Path):
    """Tar members that, extracted without a filter, write outside the target directory."""
    absolute = tarfile.TarInfo(str(outside / "absolute"))
    absolute.size = 1
    parent = tarfile.TarInfo(f"../{outside.name}-{uuid.uuid4().hex}")
    parent.size = 1
    link = tarfile.TarInfo("vocabulary_link")
    link.type, link.linkname = tarfile.SYMTYPE, str(outside)
    through_link = tarfile.TarInfo("vocabulary_link/through_link")
    through_link.size = 1
    return {"absolute path": [absolute], "parent directory": [parent],
            "symlink out": [link, through_link]}  # fmt: skip


@pytest.mark.parametrize("kind", ["parent directory", "symlink out"])
def test_members_outside_the_extraction_directory_are_refused(tmp_path, tiny_tagger_dir, kind):
    outside = tmp_path / "outside"
    outside.mkdir()
    members = escaping_members(outside)[kind]
    path = write_archive(tmp_path / "model.tar.gz", tiny_tagger_dir, extra=members)
    # Where a "../" member would land: next to the temporary extraction directory.
    parent_target = Path(archival.tempfile.gettempdir()) / Path(members[0].name).name
    try:
        with pytest.raises(tarfile.FilterError):
            archival.load_archive(path)
        with pytest.raises(ArchiveError, match=f"model archive {path}: unsafe member"):
            load_archive(path)
        assert not list(outside.iterdir())
        assert not parent_target.exists()
    finally:
        if parent_target.exists():
            parent_target.unlink()


def test_an_absolute_member_path_is_extracted_inside(tmp_path, tiny_tagger_dir):
    # The "data" filter strips the leading "/" instead of refusing the member.
    outside = tmp_path / "outside"
    outside.mkdir()
    path = write_archive(
        tmp_path / "model.tar.gz", tiny_tagger_dir, extra=escaping_members(outside)["absolute path"]
    )
    archival.load_archive(path)
    load_archive(path)
    assert not list(outside.iterdir())


def flip_middle_bytes(data: bytes, members) -> bytes:
    middle = len(data) // 2
    flipped = bytes(byte ^ 0xFF for byte in data[middle : middle + 16])
    return data[:middle] + flipped + data[middle + 16 :]


@pytest.mark.parametrize(
    "break_archive, problem",
    [
        (lambda data, members: data[: len(data) // 2], "not a complete gzip-compressed tar"),
        (lambda data, members: b"not gzip", "not a complete gzip-compressed tar"),
        (lambda data, members: data[:-8] + bytes(8), "not a complete gzip-compressed tar"),
        (flip_middle_bytes, "not a complete gzip-compressed tar"),
    ],
    ids=["cut in half", "not gzip", "wrong checksum", "corrupted data"],
)
def test_a_truncated_or_corrupted_archive_is_named(tmp_path, tiny_tagger_dir, break_archive,
                                                   problem):  # fmt: skip
    path = write_archive(tmp_path / "model.tar.gz", tiny_tagger_dir)
    path.write_bytes(break_archive(path.read_bytes(), tiny_tagger_dir))
    with pytest.raises(ArchiveError, match=f"model archive {path}: {problem}"):
        load_archive(path)


@pytest.mark.parametrize(
    "replace, problem",
    [
        ({"weights.th": b"\x80\x02garbage" * 100}, "weights-only loading refused weights.th"),
        ({"weights.th": b"PK\x03\x04" + bytes(500)}, "weights.th is not a readable torch file"),
        ({"weights.th": None}, "it has no weights.th"),
        ({"config.json": None}, "it has no config.json"),
    ],
    ids=["garbage weights", "broken zip weights", "no weights", "no config"],
)
def test_a_tampered_archive_is_named(tmp_path, tiny_tagger_dir, replace, problem):
    path = write_archive(tmp_path / "model.tar.gz", tiny_tagger_dir, replace)
    with pytest.raises(ArchiveError, match=f"model archive {path}: {problem}"):
        load_archive(path)


def test_the_plugin_loads_lm_archives_with_these_checks(tmp_path):
    path, _ = write_tiny_language_model(tmp_path / "lm", tiny_language_model_config("forward"))
    Path(path).write_bytes(Path(path).read_bytes()[:-8] + bytes(8))
    problem = f"model archive {path}: not a complete gzip-compressed tar"
    with pytest.raises(ConfigurationError, match=f"^pretrained_file.forward_archive = {path}: "
                                                 f"{problem}"):  # fmt: skip
        FrozenBiLmEmbedder(
            expected_dim=5, directions="forward", pretrained_file={"forward_archive": path}
        )
    with pytest.raises(ArchiveError, match=problem):
        export_encoder_archive(path, str(tmp_path / "encoder.tar.gz"))


@pytest.mark.parametrize("kind", ["symlink out", "cut in half"])
@pytest.mark.parametrize("load", [archival.load_archive, load_archive], ids=["allennlp", "taglm"])
def test_a_refused_archive_leaves_no_extracted_directory(tmp_path, tiny_tagger_dir, monkeypatch,
                                                         load, kind):  # fmt: skip
    outside = tmp_path / "outside"
    outside.mkdir()
    if kind == "cut in half":
        path = write_archive(tmp_path / "model.tar.gz", tiny_tagger_dir)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        extra = escaping_members(outside)[kind]
        path = write_archive(tmp_path / "model.tar.gz", tiny_tagger_dir, extra=extra)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with pytest.raises((ArchiveError, tarfile.TarError, EOFError)):
        load(path)
    assert not list(temp.iterdir())
