import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader

from taglm_plugin.tagging.conll_column import ConllColumnReader, ConllFormatError
from taglm_plugin.tagging.tag_schemes import tags_to_spans
from tests.conftest import FIXTURES

NER = str(FIXTURES / "conll" / "ner_iob1.txt")
CHUNK = str(FIXTURES / "conll" / "chunk_bio_crlf.txt")


def read(reader, path):
    return list(reader.read(path))


def test_reads_conll2003_layout_with_docstart_variants():
    instances = read(ConllColumnReader(), NER)
    assert [i["metadata"]["words"] for i in instances] == [
        ["EU", "rejects", "German", "call", "in", "1996", "."],
        ["Peter", "Blackburn"],
        ["In", "Paris", "Berlin", "and", "Rome", "."],
    ]
    assert instances[0]["tags"].labels == ["U-ORG", "O", "U-MISC", "O", "O", "O", "O"]
    assert instances[1]["tags"].labels == ["B-PER", "L-PER"]
    # B-LOC in IOB1 starts a second span right after the first.
    assert instances[2]["tags"].labels == ["O", "U-LOC", "U-LOC", "O", "U-LOC", "O"]


def test_bio_output_and_registered_name():
    reader = DatasetReader.from_params(
        Params({"type": "taglm_conll", "output_tag_scheme": "BIO"})
    )
    instances = read(reader, NER)
    assert instances[2]["tags"].labels == ["O", "B-LOC", "B-LOC", "O", "B-LOC", "O"]


def test_chunking_layout_with_crlf_trailing_spaces_and_blank_runs():
    reader = ConllColumnReader(tag_scheme="BIO", tag_column=2)
    instances = read(reader, CHUNK)
    assert [i["metadata"]["words"] for i in instances] == [
        ["Confidence", "in", "the", "pound"],
        ["is", "expected"],
    ]
    assert instances[0]["tags"].labels == ["U-NP", "U-PP", "B-NP", "L-NP"]
    assert instances[1]["tags"].labels == ["B-VP", "L-VP"]


def test_tab_separated_custom_columns_and_unlabeled(tmp_path):
    path = tmp_path / "tabs.tsv"
    path.write_text("1\tNew York\tB-LOC\n2\tis\tO\n\n1\tbig\tO\n")
    reader = ConllColumnReader(token_column=1, tag_column=2, separator="\t", tag_scheme="BIO")
    instances = read(reader, str(path))
    assert instances[0]["metadata"]["words"] == ["New York", "is"]
    assert instances[0]["tags"].labels == ["U-LOC", "O"]
    unlabeled = read(ConllColumnReader(token_column=1, tag_column=None, separator="\t"), str(path))
    assert "tags" not in unlabeled[0].fields


def test_word_ids_are_normalized_but_characters_keep_case(tmp_path):
    from allennlp.data import Vocabulary

    instances = read(ConllColumnReader(), NER)
    vocab = Vocabulary.from_instances(instances)
    words = set(vocab.get_token_to_index_vocabulary("tokens"))
    assert {"eu", "0000", "peter"} <= words and "EU" not in words
    characters = set(vocab.get_token_to_index_vocabulary("token_characters"))
    assert {"E", "U", "1", "9"} <= characters


@pytest.mark.parametrize(
    "content, line, fragment",
    [
        ("EU NNP I-NP I-ORG\nrejects VBZ I-VP\n", 2, "expected 4 non-empty columns"),
        ("EU NNP I-NP I-ORG\n\nrejects VBZ I-VP O extra\n", 3, "found 5"),
        ("EU NNP I-NP X-ORG\n", 1, "tag 'X-ORG' is not valid IOB1"),
        ("EU NNP I-NP ORG\n", 1, "not valid IOB1"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, content, line, fragment):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(ConllFormatError) as error:
        read(ConllColumnReader(), str(path))
    assert str(error.value).startswith(f"{path}, line {line}: ")
    assert fragment in str(error.value)


def test_unconvertible_bio_sequence_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("a DT B-NP\n\nb NN O\nc NN I-NP\n")
    with pytest.raises(ConllFormatError, match=r"bad.txt, line 4: .*continues a NP span"):
        read(ConllColumnReader(tag_scheme="BIO"), str(path))


@pytest.mark.parametrize("content", ["", "\n\n", "-DOCSTART- -X- O O\n\n-DOCSTART- -X- -X- O\n"])
def test_files_without_sentences_are_rejected(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_text(content)
    with pytest.raises(ConllFormatError, match="no sentences found"):
        read(ConllColumnReader(), str(path))


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"EU NNP I-NP I-ORG\n\nM\xfcller NNP I-NP I-PER\n")
    with pytest.raises(ConllFormatError, match=r"latin1.txt, line 3: the file is not valid UTF-8"):
        read(ConllColumnReader(), str(path))


def test_error_comes_before_any_instance(tmp_path):
    path = tmp_path / "late_error.txt"
    path.write_text("EU NNP I-NP I-ORG\n\n" * 50 + "bad line\n")
    iterator = iter(ConllColumnReader().read(str(path)))
    with pytest.raises(ConllFormatError):
        next(iterator)


@pytest.mark.parametrize(
    "params, key",
    [
        ({"tag_scheme": "BILOU"}, "unknown tag scheme"),
        ({"output_tag_scheme": "IOB1"}, "unknown tag scheme"),
        ({"num_columns": 3, "tag_column": 3}, "dataset_reader.tag_column"),
    ],
)
def test_bad_configs_raise_configuration_errors(params, key):
    with pytest.raises(ConfigurationError, match=key):
        ConllColumnReader(**params)


def test_column_outside_the_file_names_the_key(tmp_path):
    path = tmp_path / "two.txt"
    path.write_text("EU I-ORG\n")
    with pytest.raises(ConllFormatError, match="line 1: tag_column = 3"):
        read(ConllColumnReader(tag_column=3), str(path))


def _raw_sentences(path, tag_column):
    """Independent reading of the raw file: (tokens, tags) per sentence."""
    sentences, tokens, tags = [], [], []
    for line in open(path, encoding="utf-8"):
        columns = line.split()
        if not columns or columns[0] == "-DOCSTART-":
            if tokens:
                sentences.append((tokens, tags))
            tokens, tags = [], []
            continue
        tokens.append(columns[0])
        tags.append(columns[tag_column])
    if tokens:
        sentences.append((tokens, tags))
    return sentences


@pytest.mark.integration
@pytest.mark.parametrize(
    "relative, reader_params, sentences, tokens",
    [
        ("conll2003/eng.train", {"tag_scheme": "IOB1"}, 14041, 203621),
        ("conll2000/train.txt", {"tag_scheme": "BIO", "tag_column": 2}, 8936, 211727),
    ],
)
def test_real_files_counts_and_spans(shared_data, relative, reader_params, sentences, tokens):
    path = shared_data / relative
    raw = _raw_sentences(path, reader_params.get("tag_column", 3))
    for output_scheme in ("BIOUL", "BIO"):
        reader = ConllColumnReader(output_tag_scheme=output_scheme, **reader_params)
        parsed = reader.read_sentences(str(path))
        assert len(parsed) == sentences
        assert sum(len(s.tokens) for s in parsed) == tokens
        assert len(raw) == sentences
        for sentence, (raw_tokens, raw_tags) in zip(parsed, raw):
            assert sentence.tokens == raw_tokens
            assert tags_to_spans(sentence.tags, output_scheme) == tags_to_spans(
                raw_tags, reader_params["tag_scheme"]
            )


def test_held_out_split_partitions_the_split_file_and_no_other(tmp_path):
    path = tmp_path / "ten.txt"
    path.write_text("".join(f"w{i} NN B-NP\n\n" for i in range(10)))
    test_file = tmp_path / "test.txt"
    test_file.write_text(path.read_text())
    (tmp_path / "link.txt").symlink_to(path)

    def words(split, file=path):
        reader = ConllColumnReader(
            tag_scheme="BIO",
            split=split,
            held_out_sentences=3,
            held_out_seed=7,
            split_file=None if split == "all" else str(path),
        )
        return [i["metadata"]["words"][0] for i in read(reader, str(file))]

    held_out, train = words("held_out"), words("train")
    assert len(held_out) == 3 and len(train) == 7
    assert sorted(held_out + train) == sorted(words("all"))
    assert words("held_out") == held_out  # deterministic
    assert words("held_out", tmp_path / "link.txt") == held_out  # the same file
    # Another file (a test file given to `allennlp evaluate`) is read whole.
    assert words("held_out", test_file) == words("train", test_file) == words("all")


def test_the_deprecated_heldout_names_read_the_same_split_with_a_warning(tmp_path):
    path = tmp_path / "ten.txt"
    path.write_text("".join(f"w{i} NN B-NP\n\n" for i in range(10)))

    def words(**split):
        reader = ConllColumnReader(tag_scheme="BIO", split_file=str(path), **split)
        return [i["metadata"]["words"][0] for i in read(reader, str(path))]

    expected = words(split="held_out", held_out_sentences=3, held_out_seed=7)
    with pytest.warns(FutureWarning) as warned:
        assert words(split="heldout", heldout_sentences=3, heldout_seed=7) == expected
    assert [str(warning.message) for warning in warned] == [
        "dataset_reader.split = 'heldout' is deprecated: use split = 'held_out'",
        "dataset_reader.heldout_sentences is deprecated: use held_out_sentences",
        "dataset_reader.heldout_seed is deprecated: use held_out_seed",
    ]
    with pytest.raises(ConfigurationError, match="give held_out_sentences only"):
        ConllColumnReader(held_out_sentences=3, heldout_sentences=3)


def test_split_needs_held_out_sentences_and_a_split_file():
    with pytest.raises(ConfigurationError, match="held_out_sentences"):
        ConllColumnReader(split="train", split_file="train.txt")
    with pytest.raises(ConfigurationError, match="dataset_reader.split_file"):
        ConllColumnReader(split="held_out", held_out_sentences=3)


def test_a_list_of_files_is_read_one_after_the_other(tmp_path):
    """A `train_data_path` list (train and dev for retraining on both); the split applies only
    to its `split_file` among them."""
    train = tmp_path / "train.txt"
    train.write_text("".join(f"t{i} NN B-NP\n\n" for i in range(4)))
    dev = tmp_path / "dev.txt"
    dev.write_text("d0 NN B-NP\n\nd1 NN O\n")
    reader = DatasetReader.from_params(Params({"type": "taglm_conll", "tag_scheme": "BIO"}))
    words = [i["metadata"]["words"][0] for i in read(reader, [str(train), str(dev)])]
    assert words == ["t0", "t1", "t2", "t3", "d0", "d1"]
    split = ConllColumnReader(tag_scheme="BIO", split="train", held_out_sentences=1,
                              split_file=str(train))  # fmt: skip
    words = [i["metadata"]["words"][0] for i in read(split, [str(train), str(dev)])]
    assert len(words) == 5 and words[-2:] == ["d0", "d1"]
