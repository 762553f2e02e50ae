"""
Loading model archives without running code from them, and with errors that name the
archive and what is wrong with it.

allennlp 2.10's `load_archive` extracts the `.tar.gz` with `tarfile.extractall` and no
extraction filter, which on Python < 3.14 writes a member named `../../x` (or an absolute
path, or through a symlink member) outside its temporary directory: an untrusted archive
could overwrite any file the user can write, e.g. drop a `.pth` file into site-packages that
Python runs at its next start. `apply()`, called when the plugin is imported (so by every
`allennlp` command run with it), makes Python's `"data"` extraction filter the default, which
refuses such members; and it makes allennlp remove the temporary directory of an archive
whose extraction fails (refused or corrupted), which allennlp's `extracted_archive` leaves
behind. The weights (`weights.th`) and training checkpoints are read with
`torch.load`, whose default on torch >= 2.6 is `weights_only=True`: only tensors and plain
containers are unpickled, a pickled callable is refused with an `UnpicklingError`.

allennlp's errors for a broken archive do not name it (`EOFError: Compressed file ended
before the end-of-stream marker was reached`, `KeyError: 37` for a `weights.th` that is not a
torch file, `FileNotFoundError` for `/tmp/tmpXXXX/best.th` when `weights.th` is missing).
`load_archive` here checks the archive first and raises `ArchiveError` instead; plugin code
that loads archives calls it rather than allennlp's.

The types an archive's `config.json` names are resolved only among registered names, in
allennlp's loader as in this one: `taglm_plugin.common.registered_types`.
"""
import contextlib
import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from os import PathLike
from typing import Any, Dict, Iterator, Union

import torch
from allennlp.common.file_utils import cached_path
from allennlp.models import archival
from allennlp.models.archival import Archive

# The weights file that allennlp's `archive_model` puts into an archive.
WEIGHTS_NAME = "weights.th"


class ArchiveError(ValueError):
    """A model archive that cannot be loaded; the message names the archive and the problem."""

    def __init__(self, archive_file: Union[str, PathLike], problem: str) -> None:
        super().__init__(f"model archive {archive_file}: {problem}")
        self.archive_file = archive_file


def apply() -> None:
    """
    Makes Python's `"data"` filter (`tarfile.data_filter`) the default of every tar
    extraction in this process that does not choose a filter, unless the application has
    already set a default (`tarfile.TarFile.extraction_filter`), and replaces allennlp's
    `archival.extracted_archive` with `_extracted_archive`.
    """
    if not hasattr(tarfile, "data_filter"):
        raise RuntimeError(
            "taglm needs Python 3.11.4 or newer: older versions have no tarfile extraction "
            "filters, so model archives cannot be extracted safely"
        )
    if tarfile.TarFile.extraction_filter is None:
        tarfile.TarFile.extraction_filter = staticmethod(tarfile.data_filter)
    archival.extracted_archive = _extracted_archive


@contextlib.contextmanager
def _extracted_archive(resolved_archive_file: str, cleanup: bool = True) -> Iterator[str]:
    """
    allennlp's `extracted_archive` (which `archival.load_archive` calls as
    `extracted_archive(file, cleanup=False)` and removes the directory itself afterwards),
    except that the directory is removed when the extraction fails.
    """
    directory = tempfile.mkdtemp()
    try:
        with tarfile.open(resolved_archive_file, "r:gz") as archive:
            archive.extractall(directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    try:
        yield directory
    finally:
        if cleanup:
            shutil.rmtree(directory, ignore_errors=True)


def load_archive(
    archive_file: Union[str, PathLike],
    cuda_device: int = -1,
    overrides: Union[str, Dict[str, Any]] = "",
) -> Archive:
    """
    allennlp's `load_archive` (same result) for a `.tar.gz` archive, after checking it: it
    must be a complete gzip-compressed tar file with a correct checksum, whose members all
    stay inside the extraction directory and hold `config.json` and `weights.th`, and the
    weights must load with `torch.load(..., weights_only=True)`. Any failure raises
    `ArchiveError`; a config naming an unregistered type raises `UnregisteredTypeError`
    (`registered_types`). The extracted files are removed whatever happens. The weights are
    read twice (checked, then loaded by allennlp).
    """
    resolved_file = cached_path(archive_file)
    with tempfile.TemporaryDirectory() as directory:
        _extract(resolved_file, directory, archive_file)
        if not os.path.isfile(os.path.join(directory, archival.CONFIG_NAME)):
            raise ArchiveError(archive_file, f"it has no {archival.CONFIG_NAME}")
        weights_path = os.path.join(directory, WEIGHTS_NAME)
        if not os.path.isfile(weights_path):
            raise ArchiveError(archive_file, f"it has no {WEIGHTS_NAME}")
        _check_weights(weights_path, archive_file)
        return archival.load_archive(directory, cuda_device, overrides)


def _extract(resolved_file: str, directory: str, archive_file: Union[str, PathLike]) -> None:
    try:
        with tarfile.open(resolved_file, "r:gz") as archive:
            archive.extractall(directory, filter="data")
            # tarfile stops at the end-of-archive marker; reading the gzip stream to its end
            # checks its CRC, so that corrupted data cannot go unnoticed.
            while archive.fileobj.read(1 << 20):
                pass
    except tarfile.FilterError as error:
        raise ArchiveError(archive_file, f"unsafe member, not extracted: {error}") from error
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ArchiveError(
            archive_file,
            "not a complete gzip-compressed tar file (truncated or corrupted?): "
            f"{type(error).__name__}: {error}",
        ) from error


def _check_weights(weights_path: str, archive_file: Union[str, PathLike]) -> None:
    try:
        torch.load(weights_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message explains weights-only loading, then gives the reason.
        reason = str(error).split("WeightsUnpickler error:")[-1].strip()
        reason = reason.split("\n")[0].split(". ")[0]
        raise ArchiveError(
            archive_file,
            f"weights-only loading refused {WEIGHTS_NAME} ({reason}): it is not a torch file "
            "of tensors and plain containers. Loading it with weights_only=False could run "
            "code from it; do not, unless you trust where it came from",
        ) from error
    except Exception as error:  # torch.load's errors for a file that is not a torch file vary.
        raise ArchiveError(
            archive_file,
            f"{WEIGHTS_NAME} is not a readable torch file: {type(error).__name__}: {error}",
        ) from error
