"""
The chunk precision, recall and F1 of conlleval, the CoNLL-2000 shared task's evaluation script
(conlleval.pl, version 2004-01-26, also the CoNLL-2003 script), computed on tag ids during
training, and its report table.

conlleval reads a tag as `LETTER-TYPE` (split at the first hyphen; a tag without one is all
letter and has the empty type) and decides from each pair of adjacent tags whether a chunk ended
and whether one started (`_ends_chunk` and `_starts_chunk` below, ported rule for rule). It never
rejects a sequence: `O I-PER` starts a PER chunk, `B-PER I-LOC` ends PER and starts LOC, a change
of type always ends and starts chunks, and `E-` (IOE schemes), `[` and `]` have their own rules.
A guessed chunk is correct when it starts and ends where a gold chunk of the same type does.
Every sentence is followed by a boundary, as the blank lines of conlleval's input file are.

The tags are read with conlleval's rules after one change: allennlp's BIOUL letters `U-` and
`L-` are read as `B-` and `I-`. conlleval has no rule for `S-` (a single-token chunk is only cut
off by a change of type) nor for `E-` followed by `B-`, so BIOES read as it stands would merge
adjacent chunks of one type (`S-PER S-PER` and `B-PER E-PER B-PER E-PER` are each one chunk to
it). `U-` -> `B-`, `L-` -> `I-` writes BIOUL tags as the BIO tags that
taglm_plugin.tagging.tag_schemes gives for a valid sequence, so the figures are those conlleval
prints for the BIO file of the same predictions (token accuracy included, which compares the
BIO tags). Tags with the letters `S-` and `E-` are read exactly as conlleval reads them.
"""
import itertools
import os
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import is_distributed, is_global_primary
from allennlp.data.vocabulary import Vocabulary
from allennlp.nn.util import dist_reduce_sum
from allennlp.training.metrics.metric import Metric

from taglm_plugin.common.atomic_files import atomic_output
from taglm_plugin.common.config_keys import ChecksConfigKeys

# allennlp's BIOUL letters and the BIO letters conlleval reads in their place.
BIOUL_LETTERS_AS_BIO = {"U": "B", "L": "I"}

# (previous letter, letter) pairs for which conlleval's endOfChunk / startOfChunk say yes.
_CHUNK_END_PAIRS = {
    ("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"), ("E", "E"), ("E", "I"), ("E", "O")
}
_CHUNK_START_PAIRS = {
    ("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"), ("E", "E"), ("E", "I"), ("O", "E")
}
# Letters that never end (as previous tag) or start (as current tag) a chunk by a change of type.
_OUTSIDE_LETTERS = ("O", ".")
# Letters of single-token chunks ("corrected 1998-12-22" in conlleval).
_BRACKET_LETTERS = ("[", "]")
# How many sentences predicted right a metric keeps the counts of (see `_count`): the distinct
# tag sequences of a training and a validation set such as CoNLL-2003's fit.
_MAX_CACHED_SENTENCES = 1 << 16
# Where ConllevalF1Measure._totals holds the counts of tokens and of correct tags; then, for each
# chunk type in the order of ConllevalF1Measure._types, its counts of gold, guessed and correct
# chunks (a type added later appends its three).
_TOKENS, _CORRECT_TAGS = 0, 1
_GOLD, _GUESSED, _CORRECT = 0, 1, 2


def split_conlleval_tag(tag: str) -> Tuple[str, str]:
    """
    (letter, type) of a tag as conlleval reads it: `/^([^-]*)-(.*)$/`, so `B-X-Y` has type `X-Y`
    and `O` has type `""`; a type Perl takes for false (`"0"`) becomes `""` as in conlleval.
    """
    letter, hyphen, chunk_type = tag.partition("-")
    if not hyphen:
        return tag, ""
    return letter, ("" if chunk_type == "0" else chunk_type)


def _ends_chunk(prev_letter: str, letter: str, prev_type: str, chunk_type: str) -> bool:
    """conlleval's `endOfChunk`: did a chunk end between the previous token and this one?"""
    return (
        (prev_letter, letter) in _CHUNK_END_PAIRS
        or (prev_letter not in _OUTSIDE_LETTERS and prev_type != chunk_type)
        or prev_letter in _BRACKET_LETTERS
    )


def _starts_chunk(prev_letter: str, letter: str, prev_type: str, chunk_type: str) -> bool:
    """conlleval's `startOfChunk`: did a chunk start between the previous token and this one?"""
    return (
        (prev_letter, letter) in _CHUNK_START_PAIRS
        or (letter not in _OUTSIDE_LETTERS and prev_type != chunk_type)
        or letter in _BRACKET_LETTERS
    )


@dataclass(frozen=True)
class ConllevalCounts:
    """
    What conlleval counts. The dicts map a chunk type to its count and hold only types with a
    count above zero (conlleval's hashes).

    tokens : tokens processed (sentence boundaries are not tokens).
    correct_tags : tokens whose guessed letter and type equal the gold ones.
    gold_chunks : chunks in the gold tags ("phrases"; conlleval's `foundCorrect`).
    guessed_chunks : chunks in the guessed tags ("found"; conlleval's `foundGuessed`).
    correct_chunks : guessed chunks with the span and type of a gold chunk ("correct").
    """

    tokens: int
    correct_tags: int
    gold_chunks: Dict[str, int]
    guessed_chunks: Dict[str, int]
    correct_chunks: Dict[str, int]

    def report_types(self) -> List[str]:
        """
        The chunk types in the order conlleval prints them: sorted, duplicates dropped by
        comparing with the previous name unless that name is false to Perl, so the empty type
        is listed twice when both gold and guessed chunks have it.
        """
        report_types: List[str] = []
        last_type: Optional[str] = None
        for chunk_type in sorted([*self.gold_chunks, *self.guessed_chunks]):
            if not last_type or last_type != chunk_type:
                report_types.append(chunk_type)
            last_type = chunk_type
        return report_types

    def scores(
        self, chunk_type: Optional[str] = None, scale: float = 1.0
    ) -> Tuple[float, float, float]:
        """
        (precision, recall, F1) over all chunks, or over those of `chunk_type`, computed in
        conlleval's order of operations (`scale` 100 gives its percentages bit for bit); a
        ratio with a zero denominator is 0.
        """
        if chunk_type is None:
            correct = sum(self.correct_chunks.values())
            guessed = sum(self.guessed_chunks.values())
            gold = sum(self.gold_chunks.values())
        else:
            correct = self.correct_chunks.get(chunk_type, 0)
            guessed = self.guessed_chunks.get(chunk_type, 0)
            gold = self.gold_chunks.get(chunk_type, 0)
        precision = scale * correct / guessed if guessed > 0 else 0.0
        recall = scale * correct / gold if gold > 0 else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return precision, recall, f1

    def accuracy(self, scale: float = 1.0) -> float:
        """Token accuracy (0 when no token was processed)."""
        return scale * self.correct_tags / self.tokens if self.tokens > 0 else 0.0


class _SentenceCounts(NamedTuple):
    """
    What conlleval's main loop counts in one sentence and the boundary after it: the indices in
    `ConllevalF1Measure._totals` of the chunk counts it adds 1 to (one index per gold, guessed
    and correct chunk), and whether a correct chunk is still open after the boundary (its
    `inCorrect`).
    """

    chunks: List[int]
    in_correct: bool


def _split(tags: List[int], offsets: List[int]) -> List[List[int]]:
    """`tags[offsets[i] : offsets[i + 1]]` for every i."""
    return [tags[start:end] for start, end in itertools.pairwise(offsets)]


def conlleval_report(counts: ConllevalCounts) -> str:
    """
    The report conlleval prints (without `-l`), line for line and byte for byte, e.g.

    ```
    processed 51362 tokens with 5942 phrases; found: 5943 phrases; correct: 5400.
    accuracy:  97.85%; precision:  90.86%; recall:  90.88%; FB1:  90.87
                  LOC: precision:  93.23%; recall:  94.07%; FB1:  93.65  1853
    ```

    The last number of a type's line is the number of guessed chunks of that type.
    """
    lines = [
        f"processed {counts.tokens} tokens with {sum(counts.gold_chunks.values())} phrases; "
        f"found: {sum(counts.guessed_chunks.values())} phrases; "
        f"correct: {sum(counts.correct_chunks.values())}."
    ]
    if counts.tokens > 0:
        lines.append(
            "accuracy: %6.2f%%; precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f"
            % (counts.accuracy(scale=100), *counts.scores(scale=100))
        )
    for chunk_type in counts.report_types():
        lines.append(
            "%17s: precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f  %d"
            % (
                chunk_type,
                *counts.scores(chunk_type, scale=100),
                counts.guessed_chunks.get(chunk_type, 0),
            )
        )
    return "\n".join(lines) + "\n"


@Metric.register("conlleval_f1")
class ConllevalF1Measure(ChecksConfigKeys, Metric):
    """
    conlleval's chunk precision, recall and F1 (overall and per chunk type) and token accuracy,
    accumulated over batches of tag ids; see the module docstring for how tags are read.

    `get_metric` returns fractions in [0, 1] under `SpanBasedF1Measure`'s key names
    (`precision-overall`, `recall-overall`, `f1-measure-overall`, `precision-TYPE`,
    `recall-TYPE`, `f1-measure-TYPE`) plus `accuracy`, so a trainer can use
    `"validation_metric": "+f1-measure-overall"`.

    The counts are summed over workers in distributed training, when the metric is read, so
    every worker must call `get_metric`/`get_counts` (allennlp's trainer does).

    # Parameters

    vocabulary : `Vocabulary`
        Holds the tags.
    tag_namespace : `str`, optional (default = `"labels"`)
        The vocabulary namespace of the tags. Gold tags outside it can be given by name
        (`unseen_gold_tags` of `__call__`): their chunks are gold chunks no guess can match.
    table_file : `str`, optional (default = `None`)
        Where `get_metric(reset=True)` writes `conlleval_report` of the counts it read (the
        file is replaced atomically, so it holds the last reset's report: after an allennlp
        epoch, the validation one).
    """

    supports_distributed = True

    def __init__(
        self,
        vocabulary: Vocabulary,
        tag_namespace: str = "labels",
        table_file: Optional[str] = None,
    ) -> None:
        tags = vocabulary.get_index_to_token_vocabulary(tag_namespace)
        if not tags:
            raise ConfigurationError(
                f"tag_namespace {tag_namespace!r} has no tags in the vocabulary"
            )
        self._num_tags = len(tags)
        # Ids 0..num_tags-1 are the vocabulary's tags, num_tags the sentence boundary (conlleval
        # reads a blank line as gold and guessed "O"), later ones gold tags outside the
        # vocabulary, in the order they were first seen (`_tag_id`).
        self._tag_ids: Dict[str, int] = {}
        self._types: List[str] = []
        self._type_index: Dict[str, int] = {}
        # Per tag id: how conlleval reads it, the index of its type in _types, where _totals
        # holds its type's gold count, and one id per distinct reading (for token accuracy).
        self._readings: List[Tuple[str, str]] = []
        self._type_of: List[int] = []
        self._slot_of: List[int] = []
        self._reading_of: List[int] = []
        self._reading_index: Dict[Tuple[str, str], int] = {}
        # _ends[previous][current], _starts[previous][current] for every pair of tag ids.
        self._ends: List[List[bool]] = []
        self._starts: List[List[bool]] = []
        self._totals = [0] * (_CORRECT_TAGS + 1)
        # The boundary's type "" is one of them.
        vocabulary_types = {split_conlleval_tag(tags[i])[1] for i in range(self._num_tags)}
        for chunk_type in sorted(vocabulary_types | {""}):
            self._add_type(chunk_type)
        for index in range(self._num_tags):
            self._add_tag(tags[index])
        self._boundary = self._num_tags
        self._add_reading(("O", ""))
        self._table_file = table_file
        # _SentenceCounts of sentences predicted right, by (_in_correct before, *tag ids).
        self._right_sentence_counts: Dict[Tuple[int, ...], _SentenceCounts] = {}
        self.reset()

    def _add_type(self, chunk_type: str) -> None:
        self._type_index[chunk_type] = len(self._types)
        self._types.append(chunk_type)
        self._totals.extend([0, 0, 0])

    def _add_tag(self, tag: str) -> int:
        letter, chunk_type = split_conlleval_tag(tag)
        if chunk_type not in self._type_index:
            self._add_type(chunk_type)
        self._tag_ids[tag] = len(self._readings)
        self._add_reading((BIOUL_LETTERS_AS_BIO.get(letter, letter), chunk_type))
        return self._tag_ids[tag]

    def _add_reading(self, reading: Tuple[str, str]) -> None:
        """Gives the next tag id the reading `(letter, type)`, its type already added."""
        self._readings.append(reading)
        type_index = self._type_index[reading[1]]
        self._type_of.append(type_index)
        self._slot_of.append(_CORRECT_TAGS + 1 + 3 * type_index)
        self._reading_of.append(self._reading_index.setdefault(reading, len(self._reading_index)))
        letter, chunk_type = reading
        for prev, ends, starts in zip(self._readings, self._ends, self._starts):
            ends.append(_ends_chunk(prev[0], letter, prev[1], chunk_type))
            starts.append(_starts_chunk(prev[0], letter, prev[1], chunk_type))
        self._ends.append(
            [_ends_chunk(letter, cur[0], chunk_type, cur[1]) for cur in self._readings]
        )
        self._starts.append(
            [_starts_chunk(letter, cur[0], chunk_type, cur[1]) for cur in self._readings]
        )

    def _tag_id(self, tag: str) -> int:
        """The id of a gold tag given by name; one outside the vocabulary is added."""
        tag_id = self._tag_ids.get(tag)
        return self._add_tag(tag) if tag_id is None else tag_id

    def __call__(
        self,
        predictions: Union[torch.Tensor, Sequence[Sequence[int]]],
        gold_labels: torch.Tensor,
        mask: Optional[torch.BoolTensor] = None,
        unseen_gold_tags: Optional[Sequence[Dict[int, str]]] = None,
    ) -> None:
        """
        # Parameters

        predictions : `torch.LongTensor` of shape `(batch_size, sequence_length)`, or one list
            of tag ids per sentence holding only its real tokens (e.g. Viterbi paths).
        gold_labels : `torch.LongTensor` of shape `(batch_size, sequence_length)`.
        mask : `torch.BoolTensor` of shape `(batch_size, sequence_length)`, optional
            The real tokens; every position counts when it is `None`.
        unseen_gold_tags : one `{position: tag}` per sentence, optional
            Gold tags outside the tag vocabulary, by name, at positions among the sentence's
            real tokens; `gold_labels` may hold any value there.
        """
        gold_labels, mask = self.detach_tensors(gold_labels, mask)
        if gold_labels.dim() != 2 or gold_labels.is_floating_point():
            raise ValueError(
                "gold_labels must be tag ids of shape (batch_size, sequence_length), "
                f"got {gold_labels.dtype} of shape {tuple(gold_labels.shape)}"
            )
        if mask is None:
            mask = torch.ones_like(gold_labels, dtype=torch.bool)
        elif mask.shape != gold_labels.shape:
            raise ValueError(
                f"mask has shape {tuple(mask.shape)} but gold_labels {tuple(gold_labels.shape)}"
            )
        mask = mask.cpu().bool()
        # The real tokens of the batch, sentence after sentence, whatever the mask's layout.
        real_gold = torch.masked_select(gold_labels.cpu(), mask)
        offsets = list(itertools.accumulate(mask.sum(dim=1).tolist(), initial=0))
        gold = _split(real_gold.tolist(), offsets)
        if unseen_gold_tags is not None:
            if len(unseen_gold_tags) != len(gold):
                raise ValueError(
                    f"got unseen_gold_tags of {len(unseen_gold_tags)} sentences for a batch "
                    f"of {len(gold)}"
                )
            # Tag 0 holds their places until the checks are done.
            for sentence, (gold_tags, unseen) in enumerate(zip(gold, unseen_gold_tags)):
                for position in unseen:
                    if not 0 <= position < len(gold_tags):
                        raise ValueError(
                            f"unseen_gold_tags of sentence {sentence} of the batch names "
                            f"position {position} of {len(gold_tags)} real tokens"
                        )
                    gold_tags[position] = 0
        if isinstance(predictions, torch.Tensor):
            if predictions.shape != gold_labels.shape or predictions.is_floating_point():
                raise ValueError(
                    f"predictions must be tag ids of the shape of gold_labels "
                    f"{tuple(gold_labels.shape)}, got {predictions.dtype} of shape "
                    f"{tuple(predictions.shape)}"
                )
            real_guessed = torch.masked_select(predictions.detach().cpu(), mask)
            guessed = _split(real_guessed.tolist(), offsets)
        else:
            guessed = [list(row) for row in predictions]
            if len(guessed) != len(gold):
                raise ValueError(
                    f"got {len(guessed)} predicted sequences for a batch of {len(gold)}"
                )
        if real_gold.numel() > 0 and unseen_gold_tags is None:
            lowest, highest = torch.aminmax(real_gold)
            gold_in_range = lowest.item() >= 0 and highest.item() < self._num_tags
        else:
            gold_in_range = real_gold.numel() == 0
        # Only the sentences that can fail a check are looked at token by token: the first one
        # that fails raises, in the order of the batch, and nothing is counted.
        for sentence, (gold_tags, guessed_tags) in enumerate(zip(gold, guessed)):
            if len(gold_tags) != len(guessed_tags):
                raise ValueError(
                    f"sentence {sentence} of the batch has {len(gold_tags)} real tokens "
                    f"but {len(guessed_tags)} predicted tags"
                )
            if not gold_in_range:
                self._check_tag_ids("gold_labels", sentence, gold_tags)
            if guessed_tags != gold_tags:
                self._check_tag_ids("predictions", sentence, guessed_tags)
        if unseen_gold_tags is not None:
            for gold_tags, unseen in zip(gold, unseen_gold_tags):
                for position, tag in unseen.items():
                    gold_tags[position] = self._tag_id(tag)
        self._count(gold, guessed)

    def _check_tag_ids(self, name: str, sentence: int, tags: List[int]) -> None:
        """Raises if `tags` (one sentence's tag ids) holds an id outside the tag vocabulary."""
        if tags and (min(tags) < 0 or max(tags) >= self._num_tags):
            raise ValueError(
                f"{name} of sentence {sentence} of the batch has a tag id outside "
                f"[0, {self._num_tags}) of the tag vocabulary"
            )

    def _count(self, gold: List[List[int]], guessed: List[List[int]]) -> None:
        """
        Adds the counts of a batch, given as the tag ids of each sentence's real tokens (in
        `gold` and `guessed`, one list per sentence, a sentence's two lists of one length).

        conlleval's counts of a sentence depend only on its gold and guessed tags and on
        whether a correct chunk was left open before it (`in_correct`), so those of sentences
        predicted right, which come back every epoch, are kept by (`in_correct`, tags).
        """
        totals, right_sentence_counts = self._totals, self._right_sentence_counts
        reading_of = self._reading_of
        in_correct = self._in_correct
        for gold_tags, guessed_tags in zip(gold, guessed):
            totals[_TOKENS] += len(gold_tags)
            if guessed_tags == gold_tags:
                key = (in_correct, *gold_tags)
                counts = right_sentence_counts.get(key)
                if counts is None:
                    counts = self._chunk_counts(gold_tags, gold_tags, in_correct)
                    if len(right_sentence_counts) < _MAX_CACHED_SENTENCES:
                        right_sentence_counts[key] = counts
                totals[_CORRECT_TAGS] += len(gold_tags)
            else:
                counts = self._chunk_counts(gold_tags, guessed_tags, in_correct)
                totals[_CORRECT_TAGS] += sum(
                    reading_of[gold] == reading_of[guessed]
                    for gold, guessed in zip(gold_tags, guessed_tags)
                )
            for index in counts.chunks:
                totals[index] += 1
            # A chunk can stay open across the boundary (e.g. typeless tags the boundary does
            # not end), so `in_correct` carries on to the next sentence as in conlleval.
            in_correct = counts.in_correct
        self._in_correct = in_correct

    def _chunk_counts(
        self, gold_tags: List[int], guessed_tags: List[int], in_correct: bool
    ) -> _SentenceCounts:
        """
        conlleval's main loop over the tokens of one sentence (tag ids, two lists of one
        length) and the boundary after it, `in_correct` coming from the sentence before.
        """
        ends, starts, type_of, slot_of = self._ends, self._starts, self._type_of, self._slot_of
        chunks: List[int] = []
        last_gold = last_guessed = self._boundary
        for gold, guessed in zip(gold_tags + [self._boundary], guessed_tags + [self._boundary]):
            if in_correct:
                gold_ended = ends[last_gold][gold]
                guessed_ended = ends[last_guessed][guessed]
                if gold_ended and guessed_ended and type_of[last_guessed] == type_of[last_gold]:
                    in_correct = False
                    chunks.append(slot_of[last_gold] + _CORRECT)
                elif gold_ended != guessed_ended or type_of[guessed] != type_of[gold]:
                    in_correct = False
            gold_started = starts[last_gold][gold]
            guessed_started = starts[last_guessed][guessed]
            if gold_started and guessed_started and type_of[guessed] == type_of[gold]:
                in_correct = True
            if gold_started:
                chunks.append(slot_of[gold] + _GOLD)
            if guessed_started:
                chunks.append(slot_of[guessed] + _GUESSED)
            last_gold, last_guessed = gold, guessed
        return _SentenceCounts(chunks, in_correct)

    def get_counts(self) -> ConllevalCounts:
        """The counts so far, as conlleval would give them if its input ended here."""
        totals = list(self._totals)
        types = self._types
        if self._in_correct:
            # conlleval's end of input: the open chunk is correct and is counted under the
            # type of the last line read, here the boundary's.
            totals[self._slot_of[self._boundary] + _CORRECT] += 1
        if is_distributed():
            types, totals = _sum_over_workers(types, totals)

        def by_type(kind: int) -> Dict[str, int]:
            counts = totals[_CORRECT_TAGS + 1 + kind :: 3]
            return {t: count for t, count in zip(types, counts) if count > 0}

        return ConllevalCounts(
            tokens=totals[_TOKENS],
            correct_tags=totals[_CORRECT_TAGS],
            gold_chunks=by_type(_GOLD),
            guessed_chunks=by_type(_GUESSED),
            correct_chunks=by_type(_CORRECT),
        )

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        """
        `precision-overall`, `recall-overall`, `f1-measure-overall`, the same three for each
        chunk type conlleval would list (`precision-PER`, ...), and `accuracy`; fractions in
        [0, 1]. With `reset` and a `table_file`, also writes the report there.
        """
        counts = self.get_counts()
        metrics: Dict[str, float] = {}
        for chunk_type in counts.report_types():
            precision, recall, f1 = counts.scores(chunk_type)
            metrics[f"precision-{chunk_type}"] = precision
            metrics[f"recall-{chunk_type}"] = recall
            metrics[f"f1-measure-{chunk_type}"] = f1
        precision, recall, f1 = counts.scores()
        metrics["precision-overall"] = precision
        metrics["recall-overall"] = recall
        metrics["f1-measure-overall"] = f1
        metrics["accuracy"] = counts.accuracy()
        if reset:
            if self._table_file is not None and is_global_primary():
                self._write_table(conlleval_report(counts))
            self.reset()
        return metrics

    def _write_table(self, report: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self._table_file)), exist_ok=True)
        with atomic_output(self._table_file, "w", encoding="utf-8") as table:
            table.write(report)

    def reset(self) -> None:
        self._totals = [0] * (_CORRECT_TAGS + 1 + 3 * len(self._types))
        self._in_correct = False


def _sum_over_workers(types: List[str], totals: List[int]) -> Tuple[List[str], List[int]]:
    """
    The `_totals` layout of `types` summed over the workers of distributed training, whose
    types differ where their gold tags outside the vocabulary did: the sum is laid out by the
    sorted union of all workers' types.
    """
    all_types: List[List[str]] = [[] for _ in range(dist.get_world_size())]
    dist.all_gather_object(all_types, types)
    union = sorted(set(itertools.chain.from_iterable(all_types)))
    where = {chunk_type: i for i, chunk_type in enumerate(types)}
    laid_out = totals[: _CORRECT_TAGS + 1]
    for chunk_type in union:
        if chunk_type in where:
            start = _CORRECT_TAGS + 1 + 3 * where[chunk_type]
            laid_out.extend(totals[start : start + 3])
        else:
            laid_out.extend([0, 0, 0])
    return union, dist_reduce_sum(torch.tensor(laid_out, dtype=torch.long)).tolist()
