import contextlib
import os
import secrets
from typing import IO, Iterator, Union


@contextlib.contextmanager
def atomic_output(path: Union[str, os.PathLike], mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """
    A file object open for writing (`mode` "w" or "wb", `open_kwargs` as for `open`) whose
    content becomes `path` when the block ends without an exception, whole: it is written to a
    hidden file beside `path` and renamed into place, so a reader (or a process killed meanwhile)
    never sees `path` half written. On an exception the hidden file is removed and `path` stays
    as it was. The directory is created if needed.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_output writes a new file: mode 'w' or 'wb', not {mode!r}")
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    partial = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.partial")
    try:
        with open(partial, mode.replace("w", "x"), **open_kwargs) as output:
            yield output
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
