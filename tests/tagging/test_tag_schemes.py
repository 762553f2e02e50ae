import pytest

from taglm_plugin.tagging.tag_schemes import (
    TagSequenceError,
    canonical_scheme,
    convert_tags,
    spans_to_tags,
    tags_to_spans,
)


def test_iob1_spans_follow_conll_2003_conventions():
    tags = ["I-ORG", "O", "I-PER", "I-PER", "B-PER", "I-LOC", "I-PER", "B-MISC"]
    assert tags_to_spans(tags, "IOB1") == [
        ("ORG", 0, 0),
        ("PER", 2, 3),
        ("PER", 4, 4),
        ("LOC", 5, 5),
        ("PER", 6, 6),
        ("MISC", 7, 7),
    ]


def test_iob1_to_bioul_and_bio():
    tags = ["I-ORG", "I-ORG", "O", "I-PER", "B-PER", "I-PER", "I-LOC"]
    assert convert_tags(tags, "IOB1", "BIOUL") == [
        "B-ORG", "L-ORG", "O", "U-PER", "B-PER", "L-PER", "U-LOC",
    ]
    assert convert_tags(tags, "IOB1", "BIO") == [
        "B-ORG", "I-ORG", "O", "B-PER", "B-PER", "I-PER", "B-LOC",
    ]


def test_round_trip_bioul_bio_keeps_spans():
    spans = [("NP", 0, 2), ("VP", 3, 3), ("NP", 4, 5)]
    for scheme in ("BIO", "BIOUL"):
        tags = spans_to_tags(spans, 7, scheme)
        assert tags_to_spans(tags, scheme) == spans


@pytest.mark.parametrize(
    "tags, scheme, position, fragment",
    [
        (["O", "X-PER"], "IOB1", 1, "not valid IOB1"),
        (["O", "PER"], "BIO", 1, "not valid BIO"),
        (["O", "I-PER"], "BIO", 1, "none is open"),
        (["B-PER", "I-LOC"], "BIO", 1, "none is open"),
        (["B-PER", "O"], "BIOUL", 1, "unfinished PER"),
        (["B-PER"], "BIOUL", 0, "not closed"),
        (["L-PER"], "BIOUL", 0, "none is open"),
        (["U-PER", "E-PER"], "BIOUL", 1, "not valid BIOUL"),
    ],
)
def test_invalid_sequences_name_the_position(tags, scheme, position, fragment):
    with pytest.raises(TagSequenceError) as error:
        tags_to_spans(tags, scheme)
    assert error.value.position == position
    assert fragment in str(error.value)


def test_scheme_aliases():
    assert canonical_scheme("iob2", ("IOB1", "BIO")) == "BIO"
    assert canonical_scheme("BIOES", ("BIO", "BIOUL")) == "BIOUL"
    with pytest.raises(ValueError, match="unknown tag scheme 'BILOU'"):
        canonical_scheme("BILOU", ("BIO", "BIOUL"))
