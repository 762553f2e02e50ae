"""
Tag-scheme conversion between IOB1, BIO (IOB2) and BIOUL (BIOES written with allennlp's
letters: U- for single-token spans, L- for the last token of a span).

All conversions go through spans, so a conversion either preserves the entity/chunk spans
exactly or raises `TagSequenceError` naming the offending position. Span semantics:

* IOB1 (CoNLL-2003): `I-X` continues a span of type X or starts one after `O` or another
  type; `B-X` always starts a new span (it is meant for two adjacent spans of one type).
* BIO / IOB2 (CoNLL-2000): `B-X` starts a span, `I-X` must continue a span of type X.
* BIOUL: `B-X I-X* L-X` or `U-X`; any other order is invalid.
"""
from typing import List, Sequence, Tuple

# (label, start, end) with `end` inclusive, as allennlp's span utilities use.
TypedSpan = Tuple[str, int, int]

INPUT_SCHEMES = ("IOB1", "BIO", "BIOUL")
OUTPUT_SCHEMES = ("BIO", "BIOUL")
SCHEME_ALIASES = {"IOB2": "BIO", "BIOES": "BIOUL"}

_PREFIXES = {"IOB1": "BI", "BIO": "BI", "BIOUL": "BILU"}


class TagSequenceError(ValueError):
    """A tag sequence that cannot be read in its scheme. `position` is the 0-based token index."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


def canonical_scheme(name: str, allowed: Sequence[str]) -> str:
    """Maps `IOB2` to `BIO` and `BIOES` to `BIOUL`; raises `ValueError` for anything else."""
    scheme = SCHEME_ALIASES.get(name.upper(), name.upper())
    if scheme not in allowed:
        raise ValueError(f"unknown tag scheme {name!r}; expected one of {', '.join(allowed)}")
    return scheme


def _split(tag: str, position: int, scheme: str) -> Tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, dash, label = tag.partition("-")
    if not dash or not label or len(prefix) != 1 or prefix not in _PREFIXES[scheme]:
        expected = ", ".join(f"{p}-TYPE" for p in _PREFIXES[scheme])
        raise TagSequenceError(
            position, f"tag {tag!r} is not valid {scheme}; expected O or {expected}"
        )
    return prefix, label


def tags_to_spans(tags: Sequence[str], scheme: str) -> List[TypedSpan]:
    """
    Reads the spans of a tag sequence in `scheme` (one of `INPUT_SCHEMES`).

    Raises `TagSequenceError` for an unknown prefix or, in BIO and BIOUL, an order of tags
    the scheme does not allow (e.g. `O I-PER` in BIO, `B-PER O` in BIOUL).
    """
    spans: List[TypedSpan] = []
    open_label, open_start = None, 0
    for i, tag in enumerate(tags):
        prefix, label = _split(tag, i, scheme)
        continues = open_label is not None and label == open_label
        if scheme == "IOB1":
            starts = prefix == "B" or (prefix == "I" and not continues)
        elif prefix in ("I", "L"):
            if not continues:
                raise TagSequenceError(
                    i, f"tag {tag!r} continues a {label} span but none is open ({scheme})"
                )
            starts = False
        else:
            starts = prefix in ("B", "U")
            if scheme == "BIOUL" and open_label is not None:
                raise TagSequenceError(
                    i, f"tag {tag!r} follows an unfinished {open_label} span (BIOUL)"
                )
        if (starts or prefix == "O") and open_label is not None:
            spans.append((open_label, open_start, i - 1))
            open_label = None
        if starts:
            open_label, open_start = label, i
        if prefix in ("L", "U"):
            spans.append((label, open_start, i))
            open_label = None
    if open_label is not None:
        if scheme == "BIOUL":
            raise TagSequenceError(
                len(tags) - 1, f"the {open_label} span is not closed by L- (BIOUL)"
            )
        spans.append((open_label, open_start, len(tags) - 1))
    return spans


def spans_to_tags(spans: Sequence[TypedSpan], length: int, scheme: str) -> List[str]:
    """Writes non-overlapping `spans` as `length` tags in `scheme` (one of `OUTPUT_SCHEMES`)."""
    tags = ["O"] * length
    for label, start, end in spans:
        if scheme == "BIOUL" and start == end:
            tags[start] = f"U-{label}"
            continue
        tags[start] = f"B-{label}"
        for i in range(start + 1, end + 1):
            tags[i] = f"I-{label}"
        if scheme == "BIOUL":
            tags[end] = f"L-{label}"
    return tags


def convert_tags(tags: Sequence[str], from_scheme: str, to_scheme: str) -> List[str]:
    """Converts a tag sequence between schemes, preserving its spans exactly."""
    return spans_to_tags(tags_to_spans(tags, from_scheme), len(tags), to_scheme)
