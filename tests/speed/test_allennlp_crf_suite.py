"""
The test cases of allennlp's own CRF tests (allenai/allennlp, tests/modules/
conditional_random_field_test.py, as of v2.10.1) run against `FastConditionalRandomField`, on
both of its code paths (`parallel`: the CPU's and the GPU's), and against allennlp's
`ConditionalRandomField` with the same parameters. allennlp's `test_allowed_transitions` is
left out: it tests allennlp's `allowed_transitions`, which this project uses unchanged.
"""
import itertools
import math
from typing import List, Sequence, Tuple

import pytest
import torch
from allennlp.modules.conditional_random_field import ConditionalRandomField

from taglm_plugin.speed.conditional_random_field import FastConditionalRandomField
from tests.speed.test_conditional_random_field import assert_same_decodings

LOGITS = torch.tensor(
    [
        [[0, 0, 0.5, 0.5, 0.2], [0, 0, 0.3, 0.3, 0.1], [0, 0, 0.9, 10, 1]],
        [[0, 0, 0.2, 0.5, 0.2], [0, 0, 3, 0.3, 0.1], [0, 0, 0.9, 1, 1]],
    ]
)
TAGS = torch.tensor([[2, 3, 4], [3, 2, 2]])
TRANSITIONS = torch.tensor(
    [
        [0.1, 0.2, 0.3, 0.4, 0.5],
        [0.8, 0.3, 0.1, 0.7, 0.9],
        [-0.3, 2.1, -5.6, 3.4, 4.0],
        [0.2, 0.4, 0.6, -0.3, -0.4],
        [1.0, 1.0, 1.0, 1.0, 1.0],
    ]
)
START_TRANSITIONS = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.6])
END_TRANSITIONS = torch.tensor([-0.1, -0.2, 0.3, -0.4, -0.4])
NUM_TAGS = 5

# allennlp's test_constrained_viterbi_tags: a cycle 0 -> 1 -> ... -> 4 -> 0 with self-loops,
# any tag after START and before END.
CYCLE = sorted(
    {(tag, tag) for tag in range(NUM_TAGS)}
    | {(tag, (tag + 1) % NUM_TAGS) for tag in range(NUM_TAGS)}
    | {(NUM_TAGS, tag) for tag in range(NUM_TAGS)}
    | {(tag, NUM_TAGS + 1) for tag in range(NUM_TAGS)}
)

parallel_paths = pytest.mark.parametrize("parallel", [False, True], ids=["cpu", "gpu"])


def make_crfs(constraints=None) -> Tuple[ConditionalRandomField, FastConditionalRandomField]:
    """allennlp's CRF and ours with the suite's fixed parameters."""
    crfs = (
        ConditionalRandomField(NUM_TAGS, constraints),
        FastConditionalRandomField(NUM_TAGS, constraints),
    )
    for crf in crfs:
        with torch.no_grad():
            crf.transitions.copy_(TRANSITIONS)
            crf.start_transitions.copy_(START_TRANSITIONS)
            crf.end_transitions.copy_(END_TRANSITIONS)
    return crfs


def score(logits: torch.Tensor, tags: Sequence[int]) -> float:
    """The unnormalized score of one sentence's `tags` under the suite's parameters."""
    total = START_TRANSITIONS[tags[0]] + END_TRANSITIONS[tags[-1]]
    total += sum(TRANSITIONS[tag, next_tag] for tag, next_tag in zip(tags, tags[1:]))
    total += sum(logits[position, tag] for position, tag in enumerate(tags))
    return float(total)


def brute_force_log_likelihood(lengths: List[int]) -> float:
    """log p(tags | logits) summed over the sentences' first `lengths` tokens, by enumerating
    all tag sequences."""
    total = 0.0
    for logits, tags, length in zip(LOGITS, TAGS, lengths):
        logits, tags = logits[:length], tags[:length].tolist()
        every_score = [
            score(logits, other) for other in itertools.product(range(NUM_TAGS), repeat=length)
        ]
        total += score(logits, tags) - math.log(sum(math.exp(s) for s in every_score))
    return total


def brute_force_best_paths(mask: torch.BoolTensor) -> Tuple[List[List[int]], List[float]]:
    """Each sentence's best tag sequence over its tokens whose mask is True, and its score."""
    paths, scores = [], []
    for logits, sentence_mask in zip(LOGITS, mask):
        logits = logits[sentence_mask]
        best = max(
            itertools.product(range(NUM_TAGS), repeat=len(logits)),
            key=lambda tags: score(logits, tags),
        )
        paths.append(list(best))
        scores.append(score(logits, best))
    return paths, scores


def log_likelihood(crf: FastConditionalRandomField, parallel: bool, mask=None) -> float:
    parameters = crf._potential_parameters()
    return crf._log_likelihoods(LOGITS, TAGS, mask, parallel, parameters).sum().item()


@parallel_paths
def test_forward_works_without_mask(parallel):
    reference, fast = make_crfs()
    expected = brute_force_log_likelihood([3, 3])
    assert log_likelihood(fast, parallel) == pytest.approx(expected)
    assert fast(LOGITS, TAGS).item() == pytest.approx(reference(LOGITS, TAGS).item())


@parallel_paths
def test_forward_works_with_mask(parallel):
    reference, fast = make_crfs()
    mask = torch.tensor([[True, True, True], [True, True, False]])
    expected = brute_force_log_likelihood([3, 2])
    assert log_likelihood(fast, parallel, mask) == pytest.approx(expected)
    assert fast(LOGITS, TAGS, mask).item() == pytest.approx(reference(LOGITS, TAGS, mask).item())


@parallel_paths
def test_viterbi_tags(parallel):
    """A mask that is not left-aligned: the second sentence is its first and last tokens."""
    reference, fast = make_crfs()
    mask = torch.tensor([[True, True, True], [True, False, True]])

    decodings = fast._viterbi_tags(LOGITS, mask, None, parallel)

    expected_paths, expected_scores = brute_force_best_paths(mask)
    assert [tags for tags, _ in decodings] == expected_paths
    assert [s for _, s in decodings] == pytest.approx(expected_scores, rel=1e-5)
    assert_same_decodings(decodings, reference.viterbi_tags(LOGITS, mask))


@parallel_paths
def test_viterbi_tags_no_mask(parallel):
    reference, fast = make_crfs()

    decodings = fast._viterbi_tags(LOGITS, None, None, parallel)

    expected_paths, expected_scores = brute_force_best_paths(torch.ones(2, 3, dtype=torch.bool))
    assert [tags for tags, _ in decodings] == expected_paths
    assert [s for _, s in decodings] == pytest.approx(expected_scores, rel=1e-5)
    assert_same_decodings(decodings, reference.viterbi_tags(LOGITS))


@parallel_paths
def test_viterbi_tags_top_k(parallel):
    reference, fast = make_crfs()
    mask = torch.tensor([[True, True, True], [True, True, False]])

    best_paths = fast._viterbi_tags(LOGITS, mask, 2, parallel)

    assert [paths[0] for paths in best_paths] == fast._viterbi_tags(LOGITS, mask, None, parallel)
    assert [paths[1][0] for paths in best_paths] == [[4, 2, 3], [3, 2]]
    for paths, expected_paths in zip(best_paths, reference.viterbi_tags(LOGITS, mask, top_k=2)):
        assert_same_decodings(paths, expected_paths)


@parallel_paths
def test_constrained_viterbi_tags(parallel):
    reference, fast = make_crfs(CYCLE)
    mask = torch.tensor([[True, True, True], [True, True, False]])

    decodings = fast._viterbi_tags(LOGITS, mask, None, parallel)

    assert [tags for tags, _ in decodings] == [[2, 3, 3], [2, 3]]
    assert_same_decodings(decodings, reference.viterbi_tags(LOGITS, mask))
