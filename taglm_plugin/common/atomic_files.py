import contextlib
import os
from typing import IO, Iterator, Union

_PARTIAL = ".partial"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # PermissionError: another user's process
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _remove_partials_of_ended_processes(directory: str, name: str) -> None:
    """Removes the partial files of `name` (`.{name}.{pid}.partial`) left by processes that were
    killed while writing them."""
    prefix = f".{name}."
    for entry in os.listdir(directory):
        if not (entry.startswith(prefix) and entry.endswith(_PARTIAL)):
            continue
        pid = entry[len(prefix) : -len(_PARTIAL)]
        if pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, entry))


@contextlib.contextmanager
def atomic_output(path: Union[str, os.PathLike], mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """
    A file object open for writing (`mode` "w" or "wb", `open_kwargs` as for `open`) whose
    content replaces `path` when the block ends without an exception, whole: it is written to
    `.{name}.{pid}.partial` beside `path` and renamed into place, so a reader (or a process
    killed meanwhile) never sees `path` half written. On an exception the partial file is
    removed and `path` stays as it was; the partial files of processes killed while writing
    are removed the next time `path` is written. The directory must exist.

    `path` is replaced, not written in place: a new file with a plain `open`'s permissions (a
    symbolic link at `path` is replaced, the file it points to stays; hard links to the old
    file keep the old content).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_output writes a new file: mode 'w' or 'wb', not {mode!r}")
    directory, name = os.path.split(os.path.abspath(path))
    _remove_partials_of_ended_processes(directory, name)
    partial = os.path.join(directory, f".{name}.{os.getpid()}{_PARTIAL}")
    output = open(partial, mode, **open_kwargs)
    try:
        with output:
            yield output
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
