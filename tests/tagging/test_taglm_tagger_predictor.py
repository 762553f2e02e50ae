import json
import sys

import pytest
import torch
from allennlp.commands import main
from allennlp.commands.train import train_model_from_file
from allennlp.common.checks import ConfigurationError
from allennlp.data.token_indexers import ELMoTokenCharactersIndexer
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor
from allennlp_models.tagging.dataset_readers.conll2003 import Conll2003DatasetReader

import taglm_plugin  # noqa: F401  (registers the components)
from taglm_plugin.common.file_errors import DataFileError
from taglm_plugin.tagging.cached_characters import CachedElmoCharactersIndexer
from taglm_plugin.tagging.conll_column import ConllColumnReader
from taglm_plugin.tagging.taglm_tagger_predictor import (
    TagLmTaggerPredictor,
    _approximate_length,
    entity_spans,
    token_offsets,
)
from tests.conftest import FIXTURES

CONFIG = FIXTURES / "predictors" / "tiny_taglm_tagger.jsonnet"
# A tagger with a frozen biLM of two tiny LMs (tests/fixtures/archives/build.py).
TAGLM_ARCHIVE = FIXTURES / "archives" / "taglm_tagger.tar.gz"
TRAIN = FIXTURES / "conll" / "ner_iob1.txt"
TEXT = "Angela  Merkel met Emmanuel Macron in\nParis on Monday."


@pytest.fixture(scope="module")
def archive_path(tmp_path_factory):
    serialization_dir = tmp_path_factory.mktemp("tiny_taglm_tagger")
    train_model_from_file(
        CONFIG, serialization_dir, overrides={"train_data_path": str(TRAIN)}, force=True
    )
    return serialization_dir / "model.tar.gz"


def predictor_tagging_every_token(archive_path, tag):
    """A predictor whose model gives `tag` to every token (its projection bias is huge)."""
    archive = load_archive(archive_path)
    model = archive.model
    tag_index = model.vocab.get_token_index(tag, namespace="labels")
    model.tag_projection_layer._module.bias.data[tag_index] = 1000.0
    return Predictor.from_archive(archive)


def check_spans_point_into(text, output):
    for span in output["spans"]:
        assert text[span["char_start"] : span["char_end"]] == span["text"]
        assert span["text"].split() == output["tokens"][span["start"] : span["end"] + 1]


def test_token_offsets_align_left_to_right():
    assert token_offsets("a  ab\nb", ["a", "ab", "b"]) == [(0, 1), (3, 5), (6, 7)]
    with pytest.raises(ValueError, match="'c' does not occur"):
        token_offsets("a b", ["a", "c"])


def test_entity_spans_from_bioul_tags_point_into_the_raw_text():
    tokens = ["Angela", "Merkel", "met", "Emmanuel", "Macron", "in", "Paris", "on", "Monday", "."]
    tags = ["B-PER", "L-PER", "O", "B-PER", "L-PER", "O", "U-LOC", "O", "O", "O"]
    assert entity_spans(TEXT, tokens, tags, "BIOUL") == [
        {"type": "PER", "start": 0, "end": 1, "text": "Angela  Merkel",
         "char_start": 0, "char_end": 14},
        {"type": "PER", "start": 3, "end": 4, "text": "Emmanuel Macron",
         "char_start": 19, "char_end": 34},
        {"type": "LOC", "start": 6, "end": 6, "text": "Paris", "char_start": 38, "char_end": 43},
    ]  # fmt: skip


@pytest.mark.parametrize(
    "scheme, tags",
    [
        ("BIO", ["B-LOC", "B-LOC", "I-LOC", "O"]),
        ("IOB1", ["I-LOC", "B-LOC", "I-LOC", "O"]),
        ("BIOUL", ["U-LOC", "B-LOC", "L-LOC", "O"]),
    ],
)
def test_entity_spans_keep_adjacent_spans_apart_in_every_scheme(scheme, tags):
    spans = entity_spans("Paris New York ,", ["Paris", "New", "York", ","], tags, scheme)
    assert [(s["text"], s["start"], s["end"]) for s in spans] == [
        ("Paris", 0, 0),
        ("New York", 1, 2),
    ]


def test_raw_sentence_is_tokenized_and_spans_point_into_it(archive_path):
    predictor = predictor_tagging_every_token(archive_path, "U-LOC")
    output = predictor.predict(TEXT)
    assert set(output) == {"tokens", "tags", "spans"}
    assert output["tokens"] == [
        "Angela", "Merkel", "met", "Emmanuel", "Macron", "in", "Paris", "on", "Monday", ".",
    ]  # fmt: skip
    assert output["tags"] == ["U-LOC"] * 10
    assert len(output["spans"]) == 10
    check_spans_point_into(TEXT, output)
    assert output["spans"][1] == {
        "type": "LOC", "start": 1, "end": 1, "text": "Merkel", "char_start": 8, "char_end": 14,
    }  # fmt: skip


def test_raw_sentence_is_tokenized_like_conll(archive_path):
    predictor = Predictor.from_path(archive_path)
    output = predictor.predict("U.S. side won 2-1; it wasn't Anglo-Dutch.")
    assert output["tokens"] == [
        "U.S.", "side", "won", "2-1", ";", "it", "was", "n't", "Anglo-Dutch", ".",
    ]  # fmt: skip


def test_pretokenized_offsets_are_into_tokens_joined_by_spaces(archive_path):
    predictor = predictor_tagging_every_token(archive_path, "U-LOC")
    tokens = ["New", "York", "'s", "mayor"]
    [output] = predictor.predict_batch_json([{"tokens": tokens}])
    assert output["tokens"] == tokens
    assert [(s["char_start"], s["char_end"]) for s in output["spans"]] == [
        (0, 3), (4, 8), (9, 11), (12, 17),
    ]  # fmt: skip
    check_spans_point_into("New York 's mayor", output)


def test_batch_mixes_raw_and_tokenized_inputs(archive_path):
    predictor = Predictor.from_path(archive_path)
    assert isinstance(predictor, TagLmTaggerPredictor)  # the model's default predictor
    outputs = predictor.predict_batch_json(
        [{"sentence": "EU rejects German call."}, {"tokens": ["Peter", "Blackburn"]}]
    )
    assert [o["tokens"] for o in outputs] == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn"],
    ]
    assert [len(o["tags"]) for o in outputs] == [5, 2]
    assert outputs[1] == predictor.predict_json({"tokens": ["Peter", "Blackburn"]})


def test_dataset_reader_instances_give_the_same_keys(archive_path):
    predictor = predictor_tagging_every_token(archive_path, "U-ORG")
    instance = next(iter(predictor._dataset_reader.read(str(TRAIN))))
    output = predictor.predict_instance(instance)
    assert set(output) == {"tokens", "tags", "spans"}
    text = " ".join(instance["metadata"]["words"])
    assert output["tokens"] == instance["metadata"]["words"]
    assert len(output["spans"]) == len(output["tokens"])
    assert output["spans"][-1]["char_end"] == len(text)
    check_spans_point_into(text, output)


def test_top_k_tags_are_kept(archive_path):
    predictor = Predictor.from_path(archive_path, overrides={"model.top_k": 2})
    output = predictor.predict("Peter Blackburn")
    assert [len(path["tags"]) for path in output["top_k_tags"]] == [2, 2]
    assert output["top_k_tags"][0]["tags"] == output["tags"]
    assert output["top_k_tags"][0]["score"] >= output["top_k_tags"][1]["score"]


def allennlp_predict(archive_path, input_file, output_file, monkeypatch, *options):
    argv = ["allennlp", "predict", str(archive_path), str(input_file), "--silent",
            "--predictor", "taglm_tagger", "--include-package", "taglm_plugin",
            "--output-file", str(output_file), *options]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    main()


@pytest.mark.parametrize("batch_size", ["1", "2"])
def test_allennlp_predict_command_writes_one_line_per_input(
    archive_path, tmp_path, monkeypatch, batch_size
):
    inputs = [
        {"sentence": "Angela Merkel met Emmanuel Macron."},
        {"tokens": ["EU", "rejects"]},
        {"sentence": "Peter Blackburn"},
    ]
    input_file, output_file = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    input_file.write_text("\n".join(json.dumps(item) + "\n" for item in inputs))  # blank lines
    allennlp_predict(archive_path, input_file, output_file, monkeypatch, "--batch-size", batch_size)
    outputs = [json.loads(line) for line in output_file.read_text().splitlines()]
    assert [o["tokens"] for o in outputs] == [
        ["Angela", "Merkel", "met", "Emmanuel", "Macron", "."],
        ["EU", "rejects"],
        ["Peter", "Blackburn"],
    ]
    assert all(set(o) == {"tokens", "tags", "spans"} for o in outputs)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


GOOD_LINE = b'{"sentence": "EU rejects German call."}\n'


@pytest.mark.parametrize(
    "bad_line, problem",
    [
        (b'{"sentence": "EU rejects"\n', "not valid JSON: Expecting ',' delimiter at column 27"),
        (b'{"sentence": "EU"} x\n', "not valid JSON: Extra data at column 20"),
        (b'["EU", "rejects"]\n', "['EU', 'rejects']: expected a JSON object with exactly one of"),
        (b'"EU rejects"\n', "'EU rejects': expected a JSON object with exactly one of"),
        (b'{"text": "EU rejects"}\n', "{'text': 'EU rejects'}: expected a JSON object"),
        (b'{"sentence": 5}\n', '{\'sentence\': 5}: "sentence" must be a string'),
        (b'{"tokens": "EU"}\n', '{\'tokens\': \'EU\'}: "tokens" must be a non-empty list'),
        (b'{"sentence": "EU \xff"}\n', "not valid UTF-8"),
    ],
)
@pytest.mark.parametrize("batch_size", ["1", "2"])
def test_a_bad_line_is_named_and_leaves_the_output_file_as_it_was(
    archive_path, tmp_path, monkeypatch, bad_line, problem, batch_size
):
    # Lines 1 and 3 are good, line 2 blank, line 4 bad: with batches of 2 it is the second
    # input of the second batch.
    input_file, output_file = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    input_file.write_bytes(GOOD_LINE + b"\n" + GOOD_LINE + bad_line + GOOD_LINE)
    output_file.write_text("earlier predictions\n")
    with pytest.raises(DataFileError) as error:
        allennlp_predict(
            archive_path, input_file, output_file, monkeypatch, "--batch-size", batch_size
        )
    assert str(error.value).startswith(f"{input_file}, line 4: ")
    assert problem in str(error.value)
    assert (error.value.path, error.value.line_number) == (str(input_file), 4)
    assert output_file.read_text() == "earlier predictions\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_a_failed_prediction_writes_no_output_file(archive_path, tmp_path, monkeypatch):
    input_file, output_file = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    input_file.write_bytes(GOOD_LINE * 3)

    def failing_model_outputs(self, instances):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(TagLmTaggerPredictor, "_model_outputs", failing_model_outputs)
    with pytest.raises(RuntimeError, match="out of memory") as error:
        allennlp_predict(archive_path, input_file, output_file, monkeypatch, "--batch-size", "2")
    assert error.value.__notes__ == [f"while predicting {input_file}, lines 1-2"]
    assert [path.name for path in tmp_path.iterdir()] == ["in.jsonl"]


@pytest.mark.parametrize(
    "item, problem",
    [
        ({"text": "EU rejects"}, "exactly one of"),
        ("EU rejects", "exactly one of"),
        ({"sentence": "EU", "tokens": ["EU"]}, "exactly one of"),
        ({"sentence": ["EU"]}, '"sentence" must be a string'),
        ({"sentence": " \n "}, '"sentence" has no tokens'),
        ({"tokens": []}, '"tokens" must be a non-empty list'),
        ({"tokens": "EU rejects"}, '"tokens" must be a non-empty list'),
        ({"tokens": ["EU", " "]}, '"tokens" must be a non-empty list of non-blank strings'),
    ],
)
def test_bad_inputs_are_named_in_the_error(archive_path, item, problem):
    predictor = Predictor.from_path(archive_path)
    with pytest.raises(ValueError) as error:
        predictor.predict_json(item)
    message = str(error.value)
    assert problem in message
    assert repr(item) in message
    assert '{"sentence": "raw text"} or {"tokens": ["pre", "tokenized"]}' in message


def test_bad_input_in_a_batch_is_named_by_position(archive_path):
    predictor = Predictor.from_path(archive_path)
    with pytest.raises(ValueError, match=r"^input 2 of 3 \{'tokens': \[\]\}"):
        predictor.predict_batch_json([{"sentence": "EU"}, {"tokens": []}, {"sentence": "EU"}])


def test_model_without_label_encoding_is_a_configuration_error(archive_path):
    archive = load_archive(archive_path)
    archive.model.label_encoding = None
    with pytest.raises(ConfigurationError, match="model.label_encoding is None"):
        Predictor.from_archive(archive, "taglm_tagger")


def test_other_dataset_readers_are_a_configuration_error(archive_path):
    archive = load_archive(archive_path)
    with pytest.raises(ConfigurationError, match="needs the 'taglm_conll' dataset reader"):
        TagLmTaggerPredictor(archive.model, Conll2003DatasetReader())


@pytest.mark.parametrize("key", ["sentence", "tokens"])
def test_a_very_long_token_gives_the_model_at_most_64_characters_per_token(archive_path, key):
    """The archived reader's default character indexer caps tokens as in training."""
    predictor = Predictor.from_path(archive_path)
    shapes = []
    predictor._model.text_field_embedder.register_forward_pre_hook(
        lambda module, args: shapes.append(args[0]["token_characters"]["token_characters"].shape)
    )
    long_token = "x" * 100_000
    item = {"sentence": f"Paris {long_token} ."} if key == "sentence" else {
        "tokens": ["Paris", long_token, "."]
    }
    output = predictor.predict_json(item)
    assert output["tokens"] == ["Paris", long_token, "."]
    assert shapes == [(1, 3, 64)]


def predictor_with_varied_tags(archive_path, **predictor_args):
    """A predictor whose model's tags vary from token to token and with the context (random
    weights, seeded: every call gives the same model; decoding constrained to valid BIOUL)."""
    archive = load_archive(archive_path, overrides={"model.constrain_crf_decoding": True})
    generator = torch.Generator().manual_seed(0)
    for parameter in archive.model.parameters():
        if parameter.requires_grad:  # not the CRF's constraint mask
            parameter.data = torch.randn(parameter.shape, generator=generator) * 3
    return Predictor.from_archive(archive, "taglm_tagger", extra_args=predictor_args)


def varied_inputs():
    """Raw and tokenized inputs of many lengths, the longest ones neither first nor last."""
    reader = ConllColumnReader(tag_column=3, tag_scheme="IOB1")
    words = [token.text for instance in reader.read(str(TRAIN)) for token in instance["tokens"]]
    inputs = []
    for start in range(0, 40):
        length = 1 + (start * 7) % 13
        tokens = (words * 3)[start:][:length]
        inputs.append({"sentence": " ".join(tokens)} if start % 3 else {"tokens": tokens})
    return inputs


@pytest.mark.parametrize("workers", [1, 3])
def test_workers_give_the_outputs_of_one_process_in_input_order(archive_path, workers):
    inputs = varied_inputs()
    in_process = predictor_with_varied_tags(archive_path, workers=0, batch_size=4)
    pooled = predictor_with_varied_tags(archive_path, workers=workers, batch_size=4)
    try:
        expected = in_process.predict_batch_json(inputs)
        assert len({tuple(output["tags"]) for output in expected}) > 20  # the tags vary
        assert pooled.predict_batch_json(inputs) == expected
        assert pooled._workers._pool is not None  # the batch went to the workers
        # The same outputs tagged alone, unsorted and unbatched.
        assert [in_process.predict_json(item) for item in inputs] == expected

        instances = list(in_process._dataset_reader.read(str(TRAIN))) * 4
        expected = in_process.predict_batch_instance(instances)
        assert pooled.predict_batch_instance(instances) == expected
        assert expected == [in_process.predict_instance(instance) for instance in instances]
    finally:
        pooled.close()


def test_workers_get_the_longest_shares_first(archive_path, monkeypatch):
    # A worker that is handed the longest share last keeps the others waiting for it.
    predictor = predictor_with_varied_tags(archive_path, workers=2, batch_size=4)
    handed_out = []

    def record(shares):
        handed_out.extend(shares)
        return [predictor._tag_share(share) for share in shares]

    monkeypatch.setattr(predictor._workers, "map", record)
    inputs = varied_inputs()
    predictor.predict_batch_json(inputs)
    longest = [max(_approximate_length(item) for _, item in share) for share, _ in handed_out]
    assert longest == sorted(longest, reverse=True) and longest[0] > longest[-1]
    assert sorted(index for share, _ in handed_out for index, _ in share) == list(range(40))


def tokens(length):
    return {"tokens": ["EU"] * length}


def blank_token(length):
    return {"tokens": ["EU"] * (length - 1) + [" "]}


@pytest.mark.parametrize(
    "first_bad",
    [
        1,  # in the shortest share of 4 (the last handed out), after the batch's shortest bad
        # input
        0,  # the longest: in the first share handed out
    ],
)
def test_workers_name_the_first_bad_input_of_the_batch(archive_path, first_bad):
    inputs = [tokens(5)] * 4 + [{"tokens": []}] + [tokens(1)] * 2 + [tokens(6)] * 2
    inputs[first_bad] = blank_token(3) if first_bad == 1 else blank_token(10)
    in_process = predictor_with_varied_tags(archive_path, workers=0, batch_size=4)
    pooled = predictor_with_varied_tags(archive_path, workers=2, batch_size=4)
    try:
        for predictor in (in_process, pooled):
            with pytest.raises(ValueError, match=rf"^input {first_bad + 1} of 9 \{{'tokens'"):
                predictor.predict_batch_json(inputs)
    finally:
        pooled.close()


def test_allennlp_predict_with_workers_writes_the_outputs_of_one_process(
    archive_path, tmp_path, monkeypatch
):
    input_file = tmp_path / "in.jsonl"
    input_file.write_text("".join(json.dumps(item) + "\n" for item in varied_inputs()))
    outputs = {}
    for workers in (0, 2):
        output_file = tmp_path / f"out{workers}.jsonl"
        predictor_args = json.dumps({"workers": workers, "batch_size": 3})
        allennlp_predict(archive_path, input_file, output_file, monkeypatch,
                         "--batch-size", "16", "--predictor-args", predictor_args)  # fmt: skip
        outputs[workers] = output_file.read_text().splitlines()
    assert len(outputs[0]) == 40
    assert outputs[2] == outputs[0]


def test_a_failed_prediction_in_a_worker_writes_no_output_file(archive_path, tmp_path, monkeypatch):
    input_file, output_file = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    input_file.write_bytes(GOOD_LINE * 8)

    def failing_model_outputs(self, instances):
        raise RuntimeError("out of memory")

    # The workers are forked after this: they run the failing method.
    monkeypatch.setattr(TagLmTaggerPredictor, "_model_outputs", failing_model_outputs)
    with pytest.raises(RuntimeError, match="out of memory"):
        allennlp_predict(archive_path, input_file, output_file, monkeypatch, "--batch-size", "8",
                         "--predictor-args", '{"workers": 2, "batch_size": 2}')  # fmt: skip
    assert [path.name for path in tmp_path.iterdir()] == ["in.jsonl"]


@pytest.mark.parametrize("args", [{"workers": -1}, {"batch_size": 0}])
def test_bad_workers_or_batch_size_is_a_configuration_error(archive_path, args):
    with pytest.raises(ConfigurationError, match=f"predictor's {next(iter(args))} must be"):
        Predictor.from_archive(load_archive(archive_path), "taglm_tagger", extra_args=args)


def test_a_taglm_archive_tags_with_cached_elmo_characters_as_with_allennlps_indexer():
    predictor = Predictor.from_archive(
        load_archive(TAGLM_ARCHIVE), "taglm_tagger", extra_args={"workers": 0}
    )
    reader = predictor._dataset_reader
    assert type(reader.token_indexers["lm"]) is CachedElmoCharactersIndexer
    sentences = [
        ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
        ["Peter", "Blackburn"],
        ["German", "lamb", "and", "British", "lamb", "-", "x" * 60, "naïve", "EU", "."],
    ]

    def tagged():
        instances = [reader.text_to_instance(words) for words in sentences]
        outputs = predictor._model_outputs(instances)
        inputs = [{"tokens": words} for words in sentences]
        return outputs, predictor.predict_batch_json(inputs)

    plain_indexer = ELMoTokenCharactersIndexer()
    cached_runs = [tagged(), tagged()]  # filling the cache, then reading it
    reader.token_indexers = {**reader.token_indexers, "lm": plain_indexer}
    plain_outputs, plain_json = tagged()
    for outputs, json_outputs in cached_runs:
        assert json_outputs == plain_json
        for output, plain_output in zip(outputs, plain_outputs):
            assert output["tags"] == plain_output["tags"]
            assert (output["logits"] == plain_output["logits"]).all()
