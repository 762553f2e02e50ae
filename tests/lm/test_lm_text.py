import gzip
import itertools
import tarfile

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Vocabulary
from allennlp.data.data_loaders import MultiProcessDataLoader

from taglm_plugin.lm.lm_text import LmTextFormatError, LmTextReader
from tests.conftest import FIXTURES

LM_FIXTURES = FIXTURES / "lm"
PLAIN_TEXT = str(LM_FIXTURES / "sentences.txt")
WIKI_ARCHIVE = str(LM_FIXTURES / "enwiki_sample.tar.gz")
WIKI_MEMBERS = LM_FIXTURES / "enwiki_sample"


def sentences(reader, path):
    return [[token.text for token in instance["tokens"].tokens] for instance in reader.read(path)]


def test_plain_text_is_split_into_sentences_and_tokenized_like_conll():
    assert sentences(LmTextReader(), PLAIN_TEXT) == [
        "The river rises in the hills and flows south to the sea .".split(),
        "The lake is n't large .".split(),
        "It is fed by two rivers .".split(),
        "Walkers reach the summit from the town in the valley .".split(),
    ]


def test_targets_are_the_tokens_then_end_of_sentence():
    instance = next(iter(LmTextReader().read(PLAIN_TEXT)))
    tokens = [token.text for token in instance["tokens"].tokens]
    assert [token.text for token in instance["targets"].tokens] == tokens + ["</S>"]


def test_tokenizer_keeps_hyphenated_words_and_number_ranges(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("A self-governed town won 1-0 , and U.K.'s rock'n'roll didn't stop.\n")
    assert sentences(LmTextReader(), str(path)) == [
        ["A", "self-governed", "town", "won", "1-0", ",", "and", "U.K.", "'s", "rock'n'roll",
         "did", "n't", "stop", "."]
    ]


def test_wikiextractor_archive_without_markup_and_title_lines():
    read = sentences(LmTextReader(), WIKI_ARCHIVE)
    assert read[:4] == [
        "The River Otter is a river in the south-west of England .".split(),
        "It rises in the hills and flows south to the sea .".split(),
        "The river is n't long , but it is well known for its wildlife .".split(),
        "Course .".split(),
    ]
    # The `<dl>` tag is gone; the title lines ("River Otter", ...) are not sentences.
    assert "Beavers returned to the river in 2008 .".split() in read
    assert all(not any("<" in token for token in sentence) for sentence in read)
    assert ["River", "Otter"] not in read and ["Tarn", "Forest"] not in read
    # Both archive members, in order.
    assert read[-1] == "It was n't planted until 1920 .".split()
    assert len(read) == 32


def test_archive_fixture_matches_its_source_files_and_reads_like_them():
    with tarfile.open(WIKI_ARCHIVE) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}
    sources = {
        str(path.relative_to(WIKI_MEMBERS)): path.read_bytes()
        for path in sorted(WIKI_MEMBERS.rglob("wiki_*"))
    }
    assert members == sources
    glob_pattern = str(WIKI_MEMBERS / "text" / "AA" / "wiki_*")
    assert sentences(LmTextReader(), glob_pattern) == sentences(LmTextReader(), WIKI_ARCHIVE)


def test_backward_reverses_every_sentence_and_its_targets():
    forward = list(LmTextReader(direction="forward").read(PLAIN_TEXT))
    backward = list(LmTextReader(direction="backward").read(PLAIN_TEXT))
    for forward_instance, backward_instance in zip(forward, backward):
        forward_tokens = [t.text for t in forward_instance["tokens"].tokens]
        assert [t.text for t in backward_instance["tokens"].tokens] == forward_tokens[::-1]
        assert [t.text for t in backward_instance["targets"].tokens] == forward_tokens[::-1] + [
            "</S>"
        ]


def test_held_out_split_takes_every_nth_document_and_train_the_rest():
    def read(split):
        return sentences(LmTextReader(held_out_every=3, split=split), WIKI_ARCHIVE)

    everything, train, held_out = read("all"), read("train"), read("held_out")
    # Documents 0 and 3 (River Otter, Harbour Light) are held out.
    assert held_out[0] == "The River Otter is a river in the south-west of England .".split()
    assert "The Harbour Light is a lighthouse on the south coast .".split() in held_out
    assert len(held_out) == 11
    assert sorted(train + held_out) == sorted(everything)
    assert not any(sentence in train for sentence in held_out)


def test_max_sentence_length_skips_longer_sentences():
    read = sentences(LmTextReader(max_sentence_length=7), PLAIN_TEXT)
    assert read == ["The lake is n't large .".split(), "It is fed by two rivers .".split()]


def test_multi_process_loading_shares_out_the_documents():
    reader = LmTextReader(held_out_every=2, split="train")
    loader = MultiProcessDataLoader(
        reader, WIKI_ARCHIVE, batch_size=4, num_workers=2, max_instances_in_memory=8
    )
    loader.index_with(Vocabulary.from_instances(reader.read(WIKI_ARCHIVE)))
    read = [[t.text for t in instance["tokens"].tokens] for instance in loader.iter_instances()]
    assert sorted(read) == sorted(sentences(reader, WIKI_ARCHIVE))


def test_registered_and_lazy():
    reader = DatasetReader.from_params(Params({"type": "taglm_lm_text", "direction": "backward"}))
    assert isinstance(reader, LmTextReader) and reader.direction == "backward"
    first_two = list(itertools.islice(reader.read(WIKI_ARCHIVE), 2))
    assert len(first_two) == 2


@pytest.mark.parametrize(
    "params, key",
    [
        ({"direction": "sideways"}, "direction"),
        ({"split": "dev", "held_out_every": 3}, "split"),
        ({"split": "train"}, "held_out_every"),
        ({"held_out_every": 1}, "held_out_every"),
        ({"max_sentence_length": 0}, "max_sentence_length"),
    ],
)
def test_bad_configuration_names_the_key(params, key):
    with pytest.raises(ConfigurationError, match=f"dataset_reader.{key}"):
        LmTextReader(**params)


def write_wiki(tmp_path, text: str, name: str = "wiki_00"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


DOC = '<doc id="1" url="u" title="T">\nT\n\nSome text.\n</doc>\n'


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("", None, "no text found"),
        ("\n  \n", None, "no text found"),
        (DOC + '<doc id="2" title="U">\nMore.\n', 6, "never closed"),
        ('<doc id="1" title="T">\nA.\n<doc id="2" title="U">\n</doc>\n', 3, "inside the <doc>"),
        (DOC + "</doc>\n", 6, "without an open <doc>"),
        (DOC + "Loose text.\n", 6, "outside <doc>"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, text, line, problem):
    path = write_wiki(tmp_path, text)
    with pytest.raises(LmTextFormatError, match=problem) as error:
        list(LmTextReader().read(path))
    assert error.value.path == path and error.value.line_number == line
    assert str(error.value).startswith(path)


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("First line.\nCaf\xe9 au lait.\n".encode("latin-1"))
    with pytest.raises(LmTextFormatError, match=r"latin1.txt, line 2: .*not valid UTF-8"):
        list(LmTextReader().read(str(path)))


def test_error_inside_an_archive_names_the_member(tmp_path):
    member = tmp_path / "wiki_07"
    member.write_text(DOC + "Loose text.\n")
    archive_path = tmp_path / "bad.tar.gz"
    with tarfile.open(archive_path, "w:gz") as archive:
        archive.add(member, arcname="text/AB/wiki_07")
    with pytest.raises(LmTextFormatError, match=r"bad.tar.gz\[text/AB/wiki_07\], line 6"):
        list(LmTextReader().read(str(archive_path)))


def test_empty_archive_and_unmatched_glob_are_errors(tmp_path):
    archive_path = tmp_path / "empty.tar.gz"
    with tarfile.open(archive_path, "w:gz"):
        pass
    with pytest.raises(LmTextFormatError, match="contains no files"):
        list(LmTextReader().read(str(archive_path)))
    with pytest.raises(ConfigurationError, match="No file matches"):
        list(LmTextReader().read(str(tmp_path / "missing_*.txt")))


def test_nothing_selected_is_an_error():
    reader = LmTextReader(max_sentence_length=1)
    with pytest.raises(ConfigurationError, match="No sentences selected"):
        list(reader.read(PLAIN_TEXT))


def test_gzip_file_that_is_not_a_tar_archive_is_rejected_as_text(tmp_path):
    path = tmp_path / "text.gz"
    path.write_bytes(gzip.compress(b"Hello there.\n"))
    with pytest.raises(LmTextFormatError, match="not valid UTF-8"):
        list(LmTextReader().read(str(path)))


@pytest.mark.integration
def test_reads_the_start_of_the_unlabeled_wikipedia_archive(shared_data):
    path = str(shared_data / "unlabeled" / "enwiki-wikiextractor-AA.tar.gz")
    first = list(itertools.islice(LmTextReader().read(path), 200))
    assert [t.text for t in first[0]["tokens"].tokens][:6] == [
        "Anarchism", "is", "a", "political", "philosophy", "that"
    ]
    assert all(len(instance["tokens"]) > 0 for instance in first)
    assert not any(
        token.text.startswith("<doc") or token.text == "</doc>"
        for instance in first
        for token in instance["tokens"].tokens
    )
