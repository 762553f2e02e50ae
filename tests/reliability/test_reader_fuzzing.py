"""
Fuzzing the `taglm_conll` reader: every file is either read correctly or rejected with a
`ConllFormatError` naming the file and, for a problem on one line, that line, before any
instance is produced.
"""
from typing import List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taglm_plugin.tagging.conll_column import ConllColumnReader, ConllFormatError
from taglm_plugin.tagging.tag_schemes import convert_tags

FUZZ_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Whitespace that may separate columns or trail a line: Python's str.split() and str.strip()
# treat all of these as whitespace; form feed, U+001C, U+0085 and U+2028 are also line
# boundaries for str.splitlines(), which a column file must not use.
COLUMN_SEPARATORS = [" ", "\t", "  ", " \t", "\u00a0", "\u3000", "\x0b", "\x0c", "\x1c", "\u0085"]
TRAILING_WHITESPACE = ["", " ", "\t", "\x0c", "\u0085", "\u2028"]
LINE_ENDS = ["\n", "\r\n", "\r"]

# Non-empty strings without whitespace: a token or a POS / chunk column.
column_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6
).filter(lambda text: not any(char.isspace() for char in text) and text != "-DOCSTART-")
# Any sequence of these is valid IOB1 (`B-X` starts a span, `I-X` starts or continues one).
iob1_tag = st.sampled_from(["O", "I-PER", "I-LOC", "B-PER", "B-LOC", "I-MISC"])


@st.composite
def sentences(draw) -> List[List[Tuple[str, str, str, str]]]:
    """Sentences of `(token, pos, chunk, iob1_tag)` rows."""
    row = st.tuples(column_text, column_text, column_text, iob1_tag)
    return draw(st.lists(st.lists(row, min_size=1, max_size=8), min_size=1, max_size=5))


@st.composite
def conll_files(draw, sentence_list) -> Tuple[str, str, List[int]]:
    """
    `sentence_list` written as a CoNLL-2003-style file in varied but valid formatting: the
    text, its line end and the 1-based line number of every token line.
    """
    line_end = draw(st.sampled_from(LINE_ENDS))
    lines: List[str] = []
    token_lines: List[int] = []
    if draw(st.booleans()):
        lines += ["-DOCSTART- -X- -X- O", ""]
    for sentence in sentence_list:
        for row in sentence:
            separators = [draw(st.sampled_from(COLUMN_SEPARATORS)) for _ in range(3)]
            line = row[0] + "".join(sep + column for sep, column in zip(separators, row[1:]))
            lines.append(line + draw(st.sampled_from(TRAILING_WHITESPACE)))
            token_lines.append(len(lines))
        # Blank lines (possibly holding whitespace) and document breaks between sentences.
        lines += [draw(st.sampled_from(TRAILING_WHITESPACE))] * draw(st.integers(1, 2))
        if draw(st.integers(0, 3)) == 0:
            lines += ["-DOCSTART- -X- -X- O", ""]
    text = line_end.join(lines)
    if draw(st.booleans()):
        text = "\ufeff" + text  # a byte order mark, as Windows editors write
    return text, line_end, token_lines


def read_all_or_nothing(reader: ConllColumnReader, path: str) -> list:
    """`list(reader.read(path))`, checking that no instance was produced before an error."""
    instances = []
    try:
        for instance in reader.read(path):
            instances.append(instance)
    except ConllFormatError:
        assert not instances, f"{len(instances)} instances were produced before the error"
        raise
    return instances


def check_names_file_and_line(error: ConllFormatError, path: str, num_lines: int) -> None:
    assert error.path == path
    if error.line_number is None:
        assert str(error).startswith(f"{path}: ")
    else:
        assert 1 <= error.line_number <= num_lines
        assert str(error).startswith(f"{path}, line {error.line_number}: ")


def count_lines(data: bytes) -> int:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1


@FUZZ_SETTINGS
@given(data=st.data())
def test_valid_files_are_read_exactly(tmp_path, data):
    sentence_list = data.draw(sentences())
    text, _, _ = data.draw(conll_files(sentence_list))
    path = tmp_path / "valid.txt"
    path.write_bytes(text.encode("utf-8"))

    instances = read_all_or_nothing(ConllColumnReader(tag_column=3), str(path))

    assert [instance["metadata"]["words"] for instance in instances] == [
        [row[0] for row in sentence] for sentence in sentence_list
    ]
    assert [instance["tags"].labels for instance in instances] == [
        convert_tags([row[3] for row in sentence], "IOB1", "BIOUL") for sentence in sentence_list
    ]


# A fault put on one token line, as (kind, replacement of that line's bytes).
FAULTS = {
    "too few columns": lambda row: " ".join(row[:3]).encode(),
    "too many columns": lambda row: " ".join(row + ("extra",)).encode(),
    "unknown tag prefix": lambda row: " ".join(row[:3] + ("S-PER",)).encode(),
    "tag without type": lambda row: " ".join(row[:3] + ("I-",)).encode(),
    "tag without dash": lambda row: " ".join(row[:3] + ("B_PER",)).encode(),
    "invalid UTF-8": lambda row: b"\xc3\x28 " + " ".join(row[1:]).encode(),
    "UTF-16 surrogate": lambda row: b"\xed\xa0\x80 " + " ".join(row[1:]).encode(),
    "cut multi-byte character": lambda row: " ".join(row).encode() + b"\xe2\x82",
}


@FUZZ_SETTINGS
@given(data=st.data(), fault=st.sampled_from(sorted(FAULTS)))
def test_a_fault_on_one_line_is_reported_at_that_line(tmp_path, data, fault):
    sentence_list = data.draw(sentences())
    text, line_end, token_lines = data.draw(conll_files(sentence_list))
    rows = [row for sentence in sentence_list for row in sentence]
    faulty = data.draw(st.integers(0, len(rows) - 1))
    # Replace the faulty token line's bytes (a byte order mark before it stays).
    lines = text.encode("utf-8").split(line_end.encode())
    bom = "\ufeff".encode() if token_lines[faulty] == 1 and text.startswith("\ufeff") else b""
    lines[token_lines[faulty] - 1] = bom + FAULTS[fault](rows[faulty])
    path = tmp_path / "faulty.txt"
    path.write_bytes(line_end.encode().join(lines))

    with pytest.raises(ConllFormatError) as error_info:
        read_all_or_nothing(ConllColumnReader(tag_column=3, num_columns=4), str(path))
    assert error_info.value.line_number == token_lines[faulty], str(error_info.value)
    check_names_file_and_line(error_info.value, str(path), len(lines))


conll_fragments = st.sampled_from(
    [
        b"EU", b"rejects", b"NNP", b"I-NP", b"O", b"I-ORG", b"B-PER", b"U-LOC", b"I-", b"-",
        b"-DOCSTART-", b" ", b"\t", b"\n", b"\r\n", b"\r", b"\x00", b"\xff", b"\xc3",
        b"\xef\xbb\xbf", b"\x0c", "\u2028".encode(), "\u00e9t\u00e9".encode(), "😀".encode(),
    ]
)  # fmt: skip


@FUZZ_SETTINGS
@given(
    content=st.one_of(
        st.binary(max_size=400),
        st.lists(conll_fragments, max_size=80).map(b"".join),
    ),
    separator=st.sampled_from([None, "\t"]),
)
def test_any_bytes_are_read_or_rejected_with_file_and_line(tmp_path, content, separator):
    path = tmp_path / "fuzzed.txt"
    path.write_bytes(content)
    reader = ConllColumnReader(tag_column=3, separator=separator)
    try:
        instances = read_all_or_nothing(reader, str(path))
    except ConllFormatError as error:
        check_names_file_and_line(error, str(path), count_lines(content))
    else:
        assert instances and all(len(instance["tokens"]) > 0 for instance in instances)


@pytest.mark.parametrize(
    "content",
    [b"", b"\n\n  \n", b"-DOCSTART- -X- -X- O\n\n-DOCSTART- -X- -X- O\n", b"\xef\xbb\xbf"],
    ids=["empty", "blank lines", "only DOCSTART lines", "only a byte order mark"],
)
def test_a_file_without_sentences_is_rejected_naming_the_file(tmp_path, content):
    path = tmp_path / "no_sentences.txt"
    path.write_bytes(content)
    with pytest.raises(ConllFormatError, match="no sentences found") as error_info:
        read_all_or_nothing(ConllColumnReader(tag_column=3), str(path))
    assert error_info.value.line_number is None
    assert str(error_info.value).startswith(f"{path}: ")


def test_a_ten_thousand_token_sentence_is_read_whole(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("".join(f"w{i} NN I-NP {'I-PER' if i % 7 else 'O'}\n" for i in range(10_000)))
    (instance,) = read_all_or_nothing(ConllColumnReader(tag_column=3), str(path))
    assert len(instance["tokens"]) == 10_000
    assert instance["metadata"]["words"][-1] == "w9999"


@pytest.mark.parametrize("separator", [None, "\t"])
def test_mixed_tabs_and_spaces(tmp_path, separator):
    path = tmp_path / "mixed.txt"
    path.write_text("New York\tNNP \t I-NP\tI-LOC \nis\t VBZ\tI-VP  \tO\n")
    reader = ConllColumnReader(tag_column=3, separator=separator)
    if separator is None:
        # Any whitespace separates columns: "New York" is two columns, so the line has five.
        with pytest.raises(ConllFormatError, match=r"line 2: expected 5 non-empty columns"):
            read_all_or_nothing(reader, str(path))
    else:
        (instance,) = read_all_or_nothing(reader, str(path))
        assert instance["metadata"]["words"] == ["New York", "is"]
        assert instance["tags"].labels == ["U-LOC", "O"]


def test_line_boundaries_are_only_line_ends(tmp_path):
    # A form feed ending a line, U+0085 between columns: whitespace, not line breaks.
    path = tmp_path / "separators.txt"
    text = "EU NNP I-NP I-ORG\x0c\nrejects\u0085VBZ I-VP O\n\x0c\nBonn NNP I-NP I-LOC\n"
    path.write_bytes(text.encode())
    instances = read_all_or_nothing(ConllColumnReader(tag_column=3), str(path))
    words = [instance["metadata"]["words"] for instance in instances]
    assert words == [["EU", "rejects"], ["Bonn"]]


def test_a_byte_order_mark_is_not_part_of_the_first_token(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeff-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\n".encode())
    (instance,) = read_all_or_nothing(ConllColumnReader(tag_column=3), str(path))
    assert instance["metadata"]["words"] == ["EU"]


def test_invalid_utf8_is_reported_at_its_line_whatever_the_line_ends(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"a B C O\rb B C O\r\nM\xfcnchen NNP I-NP I-LOC\r")
    with pytest.raises(ConllFormatError, match="line 3: the file is not valid UTF-8"):
        read_all_or_nothing(ConllColumnReader(tag_column=3), str(path))
