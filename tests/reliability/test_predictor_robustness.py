"""
The `taglm_tagger` predictor on hostile input: each input gives tags for all its tokens or a
`ValueError` that names it; a batch with one bad input fails as a whole, naming that input.
"""
import pytest
from allennlp.models import archival
from allennlp.predictors import Predictor

WORDS = "The European Commission said on Thursday it disagreed with German advice , 1996-97 ."


@pytest.fixture(scope="module")
def predictor(tiny_tagger_dir) -> Predictor:
    return Predictor.from_archive(archival.load_archive(tiny_tagger_dir), "taglm_tagger")


def check_output(output, tokens=None):
    assert len(output["tags"]) == len(output["tokens"]) > 0
    if tokens is not None:
        assert output["tokens"] == tokens


def check_spans_point_into(text, output):
    for span in output["spans"]:
        assert text[span["char_start"] : span["char_end"]] == span["text"]


@pytest.mark.parametrize("sentence", ["", " \n\t\u3000 "], ids=["empty", "whitespace only"])
def test_text_without_tokens_is_a_clear_error(predictor, sentence):
    with pytest.raises(ValueError, match=r'^input .*: "sentence" has no tokens; expected'):
        predictor.predict_json({"sentence": sentence})


@pytest.mark.parametrize(
    "item", [{"tokens": []}, {"tokens": ["EU", " "]}, {"tokens": "EU"}, {"text": "EU"}, ["EU"]]
)
def test_malformed_input_is_a_clear_error(predictor, item):
    with pytest.raises(ValueError, match=r"^input .*expected"):
        predictor.predict_json(item)


@pytest.mark.usefixtures("one_torch_thread")
def test_a_100000_character_input_is_tagged_whole(predictor):
    text = (WORDS + " ") * (100_000 // (len(WORDS) + 1))
    assert len(text) > 99_900
    output = predictor.predict_json({"sentence": text})
    check_output(output)
    assert len(output["tokens"]) == len(text.split())
    check_spans_point_into(text, output)


@pytest.mark.parametrize(
    "text",
    [
        "Angela Merkel traf Emmanuel Macron in Zürich , ça va ?",
        "习近平 在 北京 会见 了 普京 。",
        "Путин встретился с Макроном в Москве .",
        "Great match 😀 👍🏽 👩‍👩‍👧 #WorldCup @FIFA",
        "\u200b zero \u200b width \ufeff marks \x00 and controls \x07",
    ],
    ids=["german-french", "chinese", "russian", "emoji", "invisible-and-control"],
)
def test_non_english_text_and_emoji_are_tagged(predictor, text):
    output = predictor.predict_json({"sentence": text})
    check_output(output)
    check_spans_point_into(text, output)
    tokens_output = predictor.predict_json({"tokens": text.split()})
    check_output(tokens_output, text.split())


@pytest.mark.parametrize(
    "item, tokens",
    [
        ({"sentence": "a" * 100_000}, ["a" * 100_000]),
        ({"tokens": ["EU", "b" * 10_000, "call"]}, ["EU", "b" * 10_000, "call"]),
        ({"sentence": "See https://example.org/" + "x" * 5000 + " now"}, None),
    ],
    ids=["one 100000-character token", "a 10000-character token", "a long URL"],
)
def test_very_long_tokens_are_tagged(predictor, item, tokens):
    check_output(predictor.predict_json(item), tokens)


def test_a_batch_with_one_bad_input_fails_whole_naming_it(predictor):
    good = [{"sentence": "EU rejects German call ."}, {"tokens": ["Peter", "Blackburn"]}]
    assert len(predictor.predict_batch_json(good)) == 2

    with pytest.raises(ValueError, match=r"^input 2 of 3 \{'sentence': '  '\}: "):
        predictor.predict_batch_json([good[0], {"sentence": "  "}, good[1]])
