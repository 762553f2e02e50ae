"""
Expected figures are counted by hand with conlleval's rules (written next to each case) and were
confirmed by running conlleval.pl (2004-01-26) on the same tags, one token per line and a blank
line after every sentence, with BIOUL's U-/L- written as B-/I-; the report strings below are
its output.
"""
import random
import re
import socket
from collections import Counter
from typing import Dict, List, Sequence, Tuple

import pytest
import torch
import torch.multiprocessing as mp
from allennlp.common.checks import ConfigurationError
from allennlp.common.testing.distributed_test import init_process
from allennlp.data import Vocabulary
from allennlp.training.metrics import Metric

from taglm_plugin.tagging.conlleval_f1 import (
    BIOUL_LETTERS_AS_BIO,
    ConllevalCounts,
    ConllevalF1Measure,
    _ends_chunk,
    _starts_chunk,
    conlleval_report,
    split_conlleval_tag,
)

Sentence = Tuple[List[str], List[str]]  # (gold tags, guessed tags)


def make_vocabulary(sentences: Sequence[Sentence]) -> Vocabulary:
    vocabulary = Vocabulary()
    # "O" first, so that id 0 (the padding of gold_labels) is a real tag as in a tagger's vocab.
    vocabulary.add_token_to_namespace("O", "labels")
    for gold, guessed in sentences:
        vocabulary.add_tokens_to_namespace(gold + guessed, "labels")
    return vocabulary


def make_batch(
    vocabulary: Vocabulary, sentences: Sequence[Sentence], padding: int = 2
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(predictions, gold_labels, mask); padded predictions hold the last tag id, not "O"."""
    width = max(len(gold) for gold, _ in sentences) + padding
    last_tag = vocabulary.get_vocab_size("labels") - 1
    predictions = torch.full((len(sentences), width), last_tag, dtype=torch.long)
    gold_labels = torch.zeros((len(sentences), width), dtype=torch.long)
    mask = torch.zeros((len(sentences), width), dtype=torch.bool)
    for row, (gold, guessed) in enumerate(sentences):
        gold_labels[row, : len(gold)] = torch.tensor(ids(vocabulary, gold))
        predictions[row, : len(guessed)] = torch.tensor(ids(vocabulary, guessed))
        mask[row, : len(gold)] = True
    return predictions, gold_labels, mask


def ids(vocabulary: Vocabulary, tags: Sequence[str]) -> List[int]:
    return [vocabulary.get_token_index(tag, "labels") for tag in tags]


def score(sentences: Sequence[Sentence]) -> ConllevalF1Measure:
    vocabulary = make_vocabulary(sentences)
    metric = ConllevalF1Measure(vocabulary)
    metric(*make_batch(vocabulary, sentences))
    return metric


def sentence(gold: str, guessed: str) -> Sentence:
    return gold.split(), guessed.split()


VALID_BIO = [sentence("B-PER I-PER O B-LOC", "B-PER I-PER O B-ORG")]

# conlleval never rejects a sequence: "O I-PER" starts a chunk, "I-PER B-PER" starts another,
# "B-PER I-LOC" ends PER and starts LOC; every sentence ends all chunks.
INVALID_BIO = [
    # gold PER[1-3]; guessed PER[1-2] (O I- starts), PER[3] (I- B- starts); tags right: 3 of 5.
    sentence("O B-PER I-PER I-PER O", "O I-PER I-PER B-PER O"),
    # gold PER[0-1], LOC[2]; guessed PER[0], LOC[1-2] (type change); tags right: 1 of 3.
    sentence("B-PER I-PER B-LOC", "B-PER I-LOC I-LOC"),
    # LOC[0] in both: the boundary ended the LOC chunks before it, so it is correct; 1 of 1.
    sentence("I-LOC", "I-LOC"),
]

CASES = [
    pytest.param(
        VALID_BIO,
        # gold PER[0-1], LOC[3]; guessed PER[0-1], ORG[3]; PER correct; tags right: 3 of 4.
        ConllevalCounts(4, 3, {"PER": 1, "LOC": 1}, {"PER": 1, "ORG": 1}, {"PER": 1}),
        id="valid-bio",
    ),
    pytest.param(
        INVALID_BIO,
        ConllevalCounts(9, 5, {"PER": 2, "LOC": 2}, {"PER": 3, "LOC": 2}, {"LOC": 1}),
        id="invalid-bio",
    ),
    pytest.param(
        # IOB1: B- only separates adjacent chunks of one type. gold ORG[0-1], ORG[2], PER[4];
        # guessed ORG[0-2], PER[4]; PER correct (ORG[0-1] ends in gold only); tags right: 3 of 5.
        [sentence("I-ORG I-ORG B-ORG O I-PER", "I-ORG I-ORG I-ORG O B-PER")],
        ConllevalCounts(5, 3, {"ORG": 2, "PER": 1}, {"ORG": 1, "PER": 1}, {"PER": 1}),
        id="iob1",
    ),
    pytest.param(
        # BIOUL read as BIO (U- as B-, L- as I-): adjacent single-token chunks stay apart.
        # 3 chunks each (PER[0], PER[1], LOC[2-4]), all correct; tags right: 5 of 5.
        [sentence("U-PER U-PER B-LOC I-LOC L-LOC", "U-PER U-PER B-LOC I-LOC L-LOC")],
        ConllevalCounts(5, 5, {"PER": 2, "LOC": 1}, {"PER": 2, "LOC": 1}, {"PER": 2, "LOC": 1}),
        id="bioul-valid",
    ),
    pytest.param(
        # As BIO, gold "B-PER B-PER O B-LOC I-LOC": PER[0], PER[1], LOC[3-4]; guessed
        # "B-PER I-PER O B-LOC B-LOC": PER[0-1], LOC[3], LOC[4]; none correct; tags right: 3 of 5.
        # Then invalid BIOUL: gold "B-PER L-PER O" = PER[0-1]; guessed "L-PER U-PER L-PER",
        # as BIO "I-PER B-PER I-PER" = PER[0], PER[1-2]; none correct; tags right: 0 of 3.
        [
            sentence("U-PER U-PER O B-LOC L-LOC", "B-PER L-PER O U-LOC U-LOC"),
            sentence("B-PER L-PER O", "L-PER U-PER L-PER"),
        ],
        ConllevalCounts(8, 3, {"PER": 3, "LOC": 1}, {"PER": 3, "LOC": 2}, {}),
        id="bioul-mixed-and-invalid",
    ),
    pytest.param(
        # S- and E- read as conlleval reads them: no rule for S-, so "S-PER S-PER" is one chunk
        # (only a type change cuts it), and none for E- B-, so "B-PER E-PER B-PER E-PER" is one.
        # gold PER[0-1], PER[3-6]; guessed PER[0] (S- O ends by the type change), PER[3-4]
        # (O I- starts, E- O ends), PER[6] (O E- starts); none correct; tags right: 4 of 7.
        [sentence("S-PER S-PER O B-PER E-PER B-PER E-PER", "S-PER O O I-PER E-PER O E-PER")],
        ConllevalCounts(7, 4, {"PER": 2}, {"PER": 3}, {}),
        id="ioe-and-s-tags",
    ),
    pytest.param(
        # "[" and "]" chunks have length 1; types split at the first hyphen ("X-Y").
        # gold NP[0], NP[1], X-Y[3-4]; guessed NP[0], NP[1], X-Y[3], X-Y[4]; tags right: 4 of 5.
        [sentence("[-NP ]-NP O B-X-Y I-X-Y", "[-NP ]-NP O B-X-Y B-X-Y")],
        ConllevalCounts(5, 4, {"NP": 2, "X-Y": 1}, {"NP": 2, "X-Y": 2}, {"NP": 2}),
        id="brackets-and-hyphenated-types",
    ),
    pytest.param(
        # Typeless tags: "B" starts a chunk of type "", "B X" never ends it and neither does the
        # boundary, so it stays open through the next sentence and is counted at the end of the
        # input (under the type of the last line, the blank one: "").
        [sentence("B X", "B X"), sentence("O", "O")],
        ConllevalCounts(3, 3, {"": 1}, {"": 1}, {"": 1}),
        id="chunk-open-across-sentences",
    ),
]


@pytest.mark.parametrize("sentences, expected", CASES)
def test_counts_are_conllevals(sentences: List[Sentence], expected: ConllevalCounts):
    assert score(sentences).get_counts() == expected


@pytest.mark.parametrize("sentences, expected", CASES)
def test_counts_do_not_depend_on_batching_or_padding(
    sentences: List[Sentence], expected: ConllevalCounts
):
    vocabulary = make_vocabulary(sentences)
    one_by_one = ConllevalF1Measure(vocabulary)
    for single in sentences:
        one_by_one(*make_batch(vocabulary, [single], padding=0))
    assert one_by_one.get_counts() == expected

    viterbi_paths = ConllevalF1Measure(vocabulary)
    _, gold_labels, mask = make_batch(vocabulary, sentences, padding=3)
    viterbi_paths([ids(vocabulary, guessed) for _, guessed in sentences], gold_labels, mask)
    assert viterbi_paths.get_counts() == expected


def test_metric_values_are_conllevals_as_fractions():
    # conlleval: "accuracy:  55.56%; precision:  20.00%; recall:  25.00%; FB1:  22.22", and
    # LOC 50.00 / 50.00 / 50.00, PER 0 / 0 / 0.
    metrics = score(INVALID_BIO).get_metric()
    assert metrics == pytest.approx(
        {
            "precision-overall": 1 / 5,
            "recall-overall": 1 / 4,
            "f1-measure-overall": 2 * (1 / 5) * (1 / 4) / (1 / 5 + 1 / 4),
            "accuracy": 5 / 9,
            "precision-LOC": 1 / 2,
            "recall-LOC": 1 / 2,
            "f1-measure-LOC": 1 / 2,
            "precision-PER": 0.0,
            "recall-PER": 0.0,
            "f1-measure-PER": 0.0,
        }
    )


def test_types_without_gold_or_guessed_chunks_score_zero():
    metrics = score(VALID_BIO).get_metric()
    assert metrics["precision-ORG"] == metrics["recall-ORG"] == 0.0  # guessed only
    assert metrics["precision-LOC"] == metrics["recall-LOC"] == 0.0  # gold only
    assert metrics["f1-measure-PER"] == 1.0
    assert metrics["f1-measure-overall"] == 0.5


def test_report_is_conllevals_output():
    assert conlleval_report(score(INVALID_BIO).get_counts()) == (
        "processed 9 tokens with 4 phrases; found: 5 phrases; correct: 1.\n"
        "accuracy:  55.56%; precision:  20.00%; recall:  25.00%; FB1:  22.22\n"
        "              LOC: precision:  50.00%; recall:  50.00%; FB1:  50.00  2\n"
        "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  3\n"
    )
    assert conlleval_report(score(VALID_BIO).get_counts()) == (
        "processed 4 tokens with 2 phrases; found: 2 phrases; correct: 1.\n"
        "accuracy:  75.00%; precision:  50.00%; recall:  50.00%; FB1:  50.00\n"
        "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n"
        "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n"
    )


def test_report_lists_the_empty_type_twice_like_conlleval():
    # conlleval drops repeated type names by comparing with the previous one unless that is
    # false to Perl, which the empty name is.
    counts = score([sentence("B X", "B X"), sentence("O", "O")]).get_counts()
    assert conlleval_report(counts) == (
        "processed 3 tokens with 1 phrases; found: 1 phrases; correct: 1.\n"
        "accuracy: 100.00%; precision: 100.00%; recall: 100.00%; FB1: 100.00\n"
        "                 : precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n"
        "                 : precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n"
    )


def test_report_without_tokens_has_no_score_line():
    assert conlleval_report(ConllevalCounts(0, 0, {}, {}, {})) == (
        "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0.\n"
    )


def test_tags_split_like_conlleval():
    assert split_conlleval_tag("O") == ("O", "")
    assert split_conlleval_tag("B-X-Y") == ("B", "X-Y")
    assert split_conlleval_tag("[") == ("[", "")
    assert split_conlleval_tag("I-0") == ("I", "")  # `$type ? $type : ""` in Perl
    assert split_conlleval_tag("B-") == ("B", "")


def test_counts_accumulate_until_reset():
    vocabulary = make_vocabulary(INVALID_BIO)
    metric = ConllevalF1Measure(vocabulary)
    metric(*make_batch(vocabulary, INVALID_BIO[:1]))
    assert metric.get_metric(reset=False)["accuracy"] == pytest.approx(3 / 5)
    metric(*make_batch(vocabulary, INVALID_BIO[1:]))
    assert metric.get_metric(reset=True)["accuracy"] == pytest.approx(5 / 9)
    assert metric.get_counts() == ConllevalCounts(0, 0, {}, {}, {})
    assert metric.get_metric()["f1-measure-overall"] == 0.0


def test_table_file_is_written_on_reset_only(tmp_path):
    table_file = tmp_path / "epoch" / "conlleval.txt"
    vocabulary = make_vocabulary(INVALID_BIO)
    metric = ConllevalF1Measure(vocabulary, table_file=str(table_file))
    metric(*make_batch(vocabulary, INVALID_BIO))
    expected = conlleval_report(metric.get_counts())
    metric.get_metric(reset=False)
    assert not table_file.parent.exists()
    metric.get_metric(reset=True)
    assert table_file.read_text() == expected
    assert sorted(path.name for path in table_file.parent.iterdir()) == ["conlleval.txt"]
    metric.get_metric(reset=True)
    assert table_file.read_text().startswith("processed 0 tokens with 0 phrases;")


def test_is_registered():
    assert Metric.by_name("conlleval_f1") is ConllevalF1Measure


def test_empty_tag_namespace_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="tag_namespace 'tags'"):
        ConllevalF1Measure(make_vocabulary(VALID_BIO), tag_namespace="tags")


def test_bad_inputs_are_rejected():
    vocabulary = make_vocabulary(VALID_BIO)
    metric = ConllevalF1Measure(vocabulary)
    predictions, gold_labels, mask = make_batch(vocabulary, VALID_BIO)
    with pytest.raises(ValueError, match="predictions must be tag ids of the shape"):
        metric(predictions[:, :-1], gold_labels, mask)
    with pytest.raises(ValueError, match="predictions must be tag ids of the shape"):
        metric(predictions.float(), gold_labels, mask)  # class probabilities are not accepted
    with pytest.raises(ValueError, match="gold_labels must be tag ids of shape"):
        metric(predictions, gold_labels[0], mask)
    with pytest.raises(ValueError, match="mask has shape"):
        metric(predictions, gold_labels, mask[:, :-1])
    with pytest.raises(ValueError, match="got 2 predicted sequences for a batch of 1"):
        metric([[0], [0]], gold_labels, mask)
    with pytest.raises(ValueError, match="4 real tokens but 3 predicted tags"):
        metric([[0, 0, 0]], gold_labels, mask)
    with pytest.raises(ValueError, match=r"predictions of sentence 0 .* outside \[0, 5\)"):
        metric([[0, 0, 0, 5]], gold_labels, mask)
    with pytest.raises(ValueError, match=r"gold_labels of sentence 0 .* outside \[0, 5\)"):
        metric(predictions, gold_labels - 1, mask)
    assert metric.get_counts() == ConllevalCounts(0, 0, {}, {}, {})


def sum_over_workers(global_rank: int, world_size: int, gpu_id: int, shares, expected) -> None:
    vocabulary = make_vocabulary(INVALID_BIO)
    metric = ConllevalF1Measure(vocabulary)
    metric(*make_batch(vocabulary, shares[global_rank]))
    assert metric.get_counts() == expected


def test_counts_are_summed_over_distributed_workers():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    shares = [INVALID_BIO[:1], INVALID_BIO[1:]]
    expected = CASES[1].values[1]
    mp.start_processes(
        init_process,
        args=(2, [-1, -1], sum_over_workers, (shares, expected), {}, "127.0.0.1", port),
        nprocs=2,
        start_method="fork",
    )


# Tags for the randomized comparison: BIOUL, typeless ones (a "B X" chunk stays open across
# sentences), IOE/IOBES letters, brackets, a hyphenated type and types Perl reads as "".
RANDOM_TAGS = [
    "O", "B-PER", "I-PER", "L-PER", "U-PER", "B-LOC", "I-LOC", "L-LOC", "U-LOC",
    "B", "I", "X", ".", "E-PER", "S-LOC", "[-NP", "]-NP", "B-X-Y", "I-0", "I-",
]  # fmt: skip


class ConllevalReference:
    """
    conlleval.pl's main loop as it reads its input file line by line, on tag strings: one line
    per token (BIOUL's U-/L- written as B-/I-) and a blank line after every sentence.
    """

    def __init__(self) -> None:
        self.tokens = self.correct_tags = 0
        self.gold: Counter = Counter()
        self.guessed: Counter = Counter()
        self.correct: Counter = Counter()
        self.in_correct = False
        self.last_gold = self.last_guessed = ("O", "")

    def add_sentence(self, gold_tags: Sequence[str], guessed_tags: Sequence[str]) -> None:
        for gold, guessed in zip(map(self.reading, gold_tags), map(self.reading, guessed_tags)):
            self.read_line(gold, guessed)
            self.tokens += 1
            self.correct_tags += gold == guessed
        self.read_line(("O", ""), ("O", ""))  # the blank line

    @staticmethod
    def reading(tag: str) -> Tuple[str, str]:
        letter, chunk_type = split_conlleval_tag(tag)
        return BIOUL_LETTERS_AS_BIO.get(letter, letter), chunk_type

    def read_line(self, gold: Tuple[str, str], guessed: Tuple[str, str]) -> None:
        gold_ended = _ends_chunk(self.last_gold[0], gold[0], self.last_gold[1], gold[1])
        guessed_ended = _ends_chunk(
            self.last_guessed[0], guessed[0], self.last_guessed[1], guessed[1]
        )
        gold_started = _starts_chunk(self.last_gold[0], gold[0], self.last_gold[1], gold[1])
        guessed_started = _starts_chunk(
            self.last_guessed[0], guessed[0], self.last_guessed[1], guessed[1]
        )
        if self.in_correct:
            if gold_ended and guessed_ended and self.last_guessed[1] == self.last_gold[1]:
                self.in_correct = False
                self.correct[self.last_gold[1]] += 1
            elif gold_ended != guessed_ended or guessed[1] != gold[1]:
                self.in_correct = False
        if gold_started and guessed_started and guessed[1] == gold[1]:
            self.in_correct = True
        if gold_started:
            self.gold[gold[1]] += 1
        if guessed_started:
            self.guessed[guessed[1]] += 1
        self.last_gold, self.last_guessed = gold, guessed

    def counts(self) -> ConllevalCounts:
        correct = Counter(self.correct)
        if self.in_correct:  # end of input, under the type of the last (blank) line
            correct[""] += 1
        return ConllevalCounts(
            self.tokens, self.correct_tags, dict(self.gold), dict(self.guessed), dict(correct)
        )


def random_tags(rng: random.Random, length: int) -> List[str]:
    """
    Any tags in any order (I- after O, L- without B-, ...), typeless tags only (chunks that
    the boundary may leave open) or BIOUL-like spans.
    """
    draw = rng.random()
    if draw < 0.4:
        return [rng.choice(RANDOM_TAGS) for _ in range(length)]
    if draw < 0.6:
        return [rng.choice(["O", "B", "I", "X", "."]) for _ in range(length)]
    tags: List[str] = []
    while len(tags) < length:
        kind, span = rng.choice(["PER", "LOC"]), rng.randint(1, 3)
        if rng.random() < 0.5:
            tags.append("O")
        elif span == 1:
            tags.append(f"U-{kind}")
        else:
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (span - 2) + [f"L-{kind}"]
    return tags[:length]


def random_prediction(rng: random.Random, gold: List[str]) -> List[str]:
    """Right (half of the time), right but for a tag or two, or anything."""
    draw = rng.random()
    if draw < 0.5:
        return list(gold)
    if draw < 0.8:
        guessed = list(gold)
        for _ in range(rng.randint(1, 2) if gold else 0):
            guessed[rng.randrange(len(gold))] = rng.choice(RANDOM_TAGS)
        return guessed
    return random_tags(rng, len(gold))


def random_inputs(
    rng: random.Random, num_tags: int, gold_ids: List[List[int]], guessed_ids: List[List[int]]
):
    """
    (predictions, gold_labels, mask) for `__call__`: the real tokens left-aligned or scattered
    over the row, the padding of both tensors any id in or out of [0, num_tags), predictions
    as lists, tuples or (when every path has its sentence's length) a tensor, and no mask when
    every position is real.
    """
    width = max(map(len, gold_ids)) + rng.randint(0, 3)

    def padding() -> List[List[int]]:
        return [[rng.randint(-2, num_tags + 1) for _ in range(width)] for _ in gold_ids]

    gold_rows, guessed_rows = padding(), padding()
    mask = torch.zeros((len(gold_ids), width), dtype=torch.bool)
    scattered = rng.random() < 0.3
    for row, (gold, guessed) in enumerate(zip(gold_ids, guessed_ids)):
        positions = sorted(rng.sample(range(width), len(gold))) if scattered else range(len(gold))
        for position, gold_id in zip(positions, gold):
            gold_rows[row][position] = gold_id
            mask[row, position] = True
        for position, guessed_id in zip(positions, guessed):
            guessed_rows[row][position] = guessed_id
    forms = ["lists", "tuples"]
    if list(map(len, gold_ids)) == list(map(len, guessed_ids)):
        forms.append("tensor")
    form = rng.choice(forms)
    if form == "tensor":
        predictions = torch.tensor(guessed_rows, dtype=torch.long)
    else:
        predictions = [(list if form == "lists" else tuple)(guessed) for guessed in guessed_ids]
    gold_labels = torch.tensor(gold_rows, dtype=torch.long)
    return predictions, gold_labels, None if mask.all() and rng.random() < 0.5 else mask


def first_error(num_tags: int, gold_ids: List[List[int]], guessed_ids: List[List[int]]):
    """The start of the error message of the first bad sentence of a batch, or None."""
    for sentence, (gold, guessed) in enumerate(zip(gold_ids, guessed_ids)):
        if len(gold) != len(guessed):
            return f"sentence {sentence} of the batch has"
        for name, tags in (("gold_labels", gold), ("predictions", guessed)):
            if any(not 0 <= tag < num_tags for tag in tags):
                return f"{name} of sentence {sentence} of the batch has a tag id outside"
    return None


def expected_metric(counts: ConllevalCounts) -> Dict[str, float]:
    metrics = {"accuracy": counts.accuracy()}
    for chunk_type in [*counts.report_types(), None]:
        name = "overall" if chunk_type is None else chunk_type
        precision, recall, f1 = counts.scores(chunk_type)
        metrics.update(
            {f"precision-{name}": precision, f"recall-{name}": recall, f"f1-measure-{name}": f1}
        )
    return metrics


@pytest.mark.parametrize("seed", range(4))
def test_counts_equal_conllevals_on_random_batches(seed: int):
    """
    Batches of random sentences, drawn from a small pool so that sentences predicted right come
    back after different sentences (with a chunk left open before them or not), give conlleval's
    counts after every batch; a bad batch raises for its first bad sentence and counts nothing.
    """
    rng = random.Random(seed)
    vocabulary = Vocabulary()
    vocabulary.add_tokens_to_namespace(RANDOM_TAGS, "labels")
    num_tags = len(RANDOM_TAGS)
    metric = ConllevalF1Measure(vocabulary)
    reference = ConllevalReference()
    pool = [random_tags(rng, rng.randint(0, 8)) for _ in range(40)]
    right_after_open_chunk = bad_batches = 0
    for _ in range(400):
        gold = [rng.choice(pool) for _ in range(rng.randint(1, 6))]
        guessed = [random_prediction(rng, tags) for tags in gold]
        gold_ids = [ids(vocabulary, tags) for tags in gold]
        guessed_ids = [ids(vocabulary, tags) for tags in guessed]
        if rng.random() < 0.1:  # out-of-range ids, or a path of the wrong length
            for _ in range(rng.randint(1, 2)):
                sentence = rng.randrange(len(gold))
                tags = rng.choice([gold_ids, guessed_ids])[sentence]
                if tags and rng.random() < 0.8:
                    tags[rng.randrange(len(tags))] = rng.choice([-1, num_tags])
                else:
                    guessed_ids[sentence].append(0)
        inputs = random_inputs(rng, num_tags, gold_ids, guessed_ids)
        error = first_error(num_tags, gold_ids, guessed_ids)
        if error is None:
            for gold_tags, guessed_tags in zip(gold, guessed):
                right_after_open_chunk += reference.in_correct and gold_tags == guessed_tags
                reference.add_sentence(gold_tags, guessed_tags)
            metric(*inputs)
        else:
            bad_batches += 1
            with pytest.raises(ValueError, match="^" + re.escape(error)):
                metric(*inputs)
        assert metric.get_counts() == reference.counts()
        assert metric.get_metric(reset=False) == pytest.approx(expected_metric(reference.counts()))
        if rng.random() < 0.05:
            metric.get_metric(reset=True)
            reference = ConllevalReference()
    assert right_after_open_chunk >= 10 and bad_batches >= 10


# Gold tags the vocabulary of VOCABULARY_TAGS lacks: a type (LST) and tags of a known type (PER's
# B-, L-: a training set of one-token PER names has only U-PER).
VOCABULARY_TAGS = ["O", "U-PER", "B-LOC", "I-LOC", "L-LOC", "U-LOC"]
UNSEEN_GOLD = [
    sentence("B-LST L-LST O B-PER L-PER", "U-LOC U-LOC O U-PER U-PER"),
    sentence("U-PER O B-PER I-PER L-PER U-LST", "U-PER O U-PER O U-PER O"),
    sentence("B-LOC L-LOC O U-LST", "B-LOC L-LOC O U-LOC"),
]


def unseen_gold_batch(vocabulary: Vocabulary, sentences: Sequence[Sentence]):
    """make_batch's tensors, whose gold tags outside `vocabulary` are given by name."""
    known = vocabulary.get_token_to_index_vocabulary("labels")
    seen = [[tag if tag in known else "O" for tag in gold] for gold, _ in sentences]
    predictions, gold_labels, mask = make_batch(
        vocabulary, [(tags, guessed) for tags, (_, guessed) in zip(seen, sentences)]
    )
    unseen = [
        {position: tag for position, tag in enumerate(gold) if tag not in known}
        for gold, _ in sentences
    ]
    return predictions, gold_labels, mask, unseen


def reference_counts(sentences: Sequence[Sentence]) -> ConllevalCounts:
    reference = ConllevalReference()
    for gold, guessed in sentences:
        reference.add_sentence(gold, guessed)
    return reference.counts()


def test_gold_tags_outside_the_vocabulary_are_scored_like_conlleval():
    """conlleval on the tag strings: their chunks are gold chunks that no guess matches."""
    vocabulary = Vocabulary()
    vocabulary.add_tokens_to_namespace(VOCABULARY_TAGS, "labels")
    metric = ConllevalF1Measure(vocabulary)
    for batch in (UNSEEN_GOLD[:1], UNSEEN_GOLD[1:]):  # LST first seen in one batch, PER in both
        metric(*unseen_gold_batch(vocabulary, batch))
    expected = reference_counts(UNSEEN_GOLD)
    assert expected.gold_chunks["LST"] == 3 and "LST" not in expected.guessed_chunks
    assert metric.get_counts() == expected
    assert metric.get_metric(reset=True) == pytest.approx(expected_metric(expected))
    # After a reset the type stays known and counts from zero.
    metric(*unseen_gold_batch(vocabulary, UNSEEN_GOLD[2:]))
    assert metric.get_counts() == reference_counts(UNSEEN_GOLD[2:])


def test_a_gold_tag_id_outside_the_vocabulary_must_be_named():
    vocabulary = Vocabulary()
    vocabulary.add_tokens_to_namespace(VOCABULARY_TAGS, "labels")
    metric = ConllevalF1Measure(vocabulary)
    metric(*unseen_gold_batch(vocabulary, UNSEEN_GOLD))
    counts = metric.get_counts()
    # The ids the metric gave those tags are no valid gold_labels in later batches.
    predictions, gold_labels, mask, _ = unseen_gold_batch(vocabulary, UNSEEN_GOLD[2:])
    gold_labels[0, 0] = len(VOCABULARY_TAGS) + 1
    with pytest.raises(ValueError, match=r"gold_labels of sentence 0 .* outside \[0, 6\)"):
        metric(predictions, gold_labels, mask)
    with pytest.raises(ValueError, match="sentence 0 of the batch names position 4 of 4 real"):
        metric(predictions, gold_labels, mask, [{4: "U-NUM"}])
    assert metric.get_counts() == counts
    assert "NUM" not in metric.get_metric()


def sum_unseen_over_workers(global_rank: int, world_size: int, gpu_id: int, shares) -> None:
    vocabulary = Vocabulary()
    vocabulary.add_tokens_to_namespace(VOCABULARY_TAGS, "labels")
    metric = ConllevalF1Measure(vocabulary)
    metric(*unseen_gold_batch(vocabulary, shares[global_rank]))
    metrics = metric.get_metric(reset=True)
    assert metrics == pytest.approx(expected_metric(reference_counts(shares[0] + shares[1])))


def test_gold_tags_outside_the_vocabulary_are_summed_over_distributed_workers():
    """Worker 0 adds the type LST, worker 1 the types NUM and then LST: their layouts differ."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    shares = [UNSEEN_GOLD[:1], [sentence("U-NUM O", "U-PER O")] + UNSEEN_GOLD[1:]]
    mp.start_processes(
        init_process,
        args=(2, [-1, -1], sum_unseen_over_workers, (shares,), {}, "127.0.0.1", port),
        nprocs=2,
        start_method="fork",
    )
