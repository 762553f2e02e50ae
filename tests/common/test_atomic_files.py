import os
import subprocess
import sys

import pytest

from taglm_plugin.common.atomic_files import atomic_output


def test_the_file_appears_whole_when_the_block_ends(tmp_path):
    path = tmp_path / "table.txt"
    with atomic_output(path, encoding="utf-8") as output:
        output.write("first ")
        assert not path.exists()  # nothing at `path` while it is written
        output.write("second")
    assert path.read_text() == "first second"
    assert os.listdir(tmp_path) == ["table.txt"]


def test_an_exception_leaves_the_old_file_and_no_partial_one(tmp_path):
    path = tmp_path / "best.th"
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(path, "wb") as output:
            output.write(b"new, half")
            raise KeyboardInterrupt
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["best.th"]


def test_partial_files_of_killed_processes_are_removed_next_time(tmp_path):
    path = tmp_path / "best.th"
    killed = subprocess.run(
        [sys.executable, "-c", "import os, signal, sys\n"
         "from taglm_plugin.common.atomic_files import atomic_output\n"
         "with atomic_output(sys.argv[1], 'wb') as output:\n"
         "    output.write(b'half'); output.flush(); os.kill(os.getpid(), signal.SIGKILL)\n",
         str(path)],
    )  # fmt: skip
    assert killed.returncode == -9
    assert [name for name in os.listdir(tmp_path) if name.endswith(".partial")]
    # A partial file of a process that is still running (this one) is left alone.
    running = tmp_path / f".best.th.{os.getppid()}.partial"
    running.write_bytes(b"being written")
    with atomic_output(path, "wb") as output:
        output.write(b"whole")
    assert path.read_bytes() == b"whole"
    assert sorted(os.listdir(tmp_path)) == [running.name, "best.th"]


def test_a_new_file_gets_the_permissions_of_a_plain_open(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "atomic") as output:
            output.write("x")
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / "atomic").st_mode & 0o777 == 0o644


def test_the_directory_is_not_created(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_output(tmp_path / "mistyped" / "out.json"):
            pass
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("mode", ["a", "r+", "x"])
def test_only_writing_a_new_file_is_accepted(tmp_path, mode):
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"):
        with atomic_output(tmp_path / "f", mode):
            pass
