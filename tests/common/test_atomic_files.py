import os

import pytest

from taglm_plugin.common.atomic_files import atomic_output


def test_the_file_appears_whole_when_the_block_ends(tmp_path):
    path = tmp_path / "new" / "table.txt"
    with atomic_output(path, encoding="utf-8") as output:
        output.write("first ")
        assert not path.exists()  # nothing at `path` while it is written
        output.write("second")
    assert path.read_text() == "first second"
    assert os.listdir(path.parent) == ["table.txt"]


def test_an_exception_leaves_the_old_file_and_no_partial_one(tmp_path):
    path = tmp_path / "best.th"
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(path, "wb") as output:
            output.write(b"new, half")
            raise KeyboardInterrupt
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["best.th"]


def test_permissions_are_those_of_a_plain_open(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    with atomic_output(tmp_path / "atomic") as output:
        output.write("x")
    assert os.stat(tmp_path / "atomic").st_mode == os.stat(plain).st_mode


@pytest.mark.parametrize("mode", ["a", "r+", "x"])
def test_only_writing_a_new_file_is_accepted(tmp_path, mode):
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"):
        with atomic_output(tmp_path / "f", mode):
            pass
