from typing import List, Optional, Tuple

import pytest
import torch
from allennlp.modules.conditional_random_field import (
    ConditionalRandomField,
    allowed_transitions,
)

from taglm_plugin.speed import conditional_random_field as crf_module
from taglm_plugin.speed.conditional_random_field import FastConditionalRandomField
from taglm_plugin.speed.cuda_graphs import LossWithPrecomputedGradients

# BIOUL tags for CoNLL-2003's four entity types: 17 tags.
LABELS = dict(
    enumerate(
        ["O"] + [f"{prefix}-{kind}" for kind in ("PER", "LOC", "ORG", "MISC") for prefix in "BILU"]
    )
)
NUM_TAGS = len(LABELS)
BIOUL = allowed_transitions("BIOUL", LABELS)


def make_crfs(
    seed: int,
    constraints: Optional[List[Tuple[int, int]]] = None,
    include_start_end_transitions: bool = True,
    num_tags: int = NUM_TAGS,
    dtype: torch.dtype = torch.float32,
) -> Tuple[ConditionalRandomField, FastConditionalRandomField]:
    """allennlp's CRF with random parameters and ours loaded from its state dict."""
    torch.manual_seed(seed)
    reference = ConditionalRandomField(num_tags, constraints, include_start_end_transitions)
    fast = FastConditionalRandomField(num_tags, constraints, include_start_end_transitions)
    fast.load_state_dict(reference.state_dict())
    return reference.to(dtype), fast.to(dtype)


def make_batch(
    seed: int,
    lengths: List[int],
    max_length: Optional[int] = None,
    num_tags: int = NUM_TAGS,
    dtype: torch.dtype = torch.float32,
):
    """Continuous random logits (no ties), random tags, and a left-aligned mask for `lengths`;
    padded positions hold random logits and tags too."""
    generator = torch.Generator().manual_seed(seed)
    max_length = max_length or max(lengths)
    logits = 3 * torch.randn(len(lengths), max_length, num_tags, generator=generator, dtype=dtype)
    tags = torch.randint(num_tags, (len(lengths), max_length), generator=generator)
    mask = torch.arange(max_length)[None, :] < torch.tensor(lengths)[:, None]
    return logits, tags, mask


def scattered_mask(seed: int, batch_size: int, length: int) -> torch.BoolTensor:
    """A random mask with at least one True per row and rows that are not left-aligned: one
    starting with False, one ending with True after a False (where allennlp's gold score takes
    the last logit with the tag at position `mask.sum() - 1`)."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(batch_size, length, generator=generator) < 0.6
    mask[:, 1] = True
    mask[0, 0] = False
    mask[1, -2:] = torch.tensor([False, True])
    return mask


def random_lengths(seed: int, batch_size: int, max_length: int) -> List[int]:
    """Random lengths in 1..max_length, including 1 and max_length."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_length + 1, (batch_size,), generator=generator).tolist()
    return [max_length, 1] + lengths[2:]


def gradients(loss: torch.Tensor, tensors: List[torch.Tensor]) -> List[torch.Tensor]:
    """d loss / d tensor, zeros for tensors the loss does not use (transitions at length 1)."""
    return [
        torch.zeros_like(tensor) if gradient is None else gradient
        for tensor, gradient in zip(tensors, torch.autograd.grad(loss, tensors, allow_unused=True))
    ]


def crf_parameters(crf: ConditionalRandomField) -> List[torch.Tensor]:
    return [parameter for parameter in crf.parameters() if parameter.requires_grad]


@pytest.mark.parametrize("constraints", [None, BIOUL], ids=["unconstrained", "bioul"])
@pytest.mark.parametrize("include_start_end_transitions", [True, False])
@pytest.mark.parametrize("max_length", [1, 2, 7, 16])
def test_log_likelihood_and_gradients_match_allennlp(
    constraints, include_start_end_transitions, max_length
):
    seed = 10 * max_length + 2 * include_start_end_transitions + (constraints is None)
    reference, fast = make_crfs(
        seed, constraints, include_start_end_transitions, dtype=torch.float64
    )
    logits, tags, mask = make_batch(
        seed, random_lengths(seed, 5, max_length), dtype=torch.float64
    )
    logits.requires_grad_()

    expected = reference(logits, tags, mask)
    actual = fast(logits, tags, mask)

    assert actual.item() == pytest.approx(expected.item(), rel=1e-9)
    expected_gradients = gradients(expected, [logits] + crf_parameters(reference))
    actual_gradients = gradients(actual, [logits] + crf_parameters(fast))
    for expected_gradient, actual_gradient in zip(expected_gradients, actual_gradients):
        torch.testing.assert_close(actual_gradient, expected_gradient, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("include_start_end_transitions", [True, False])
@pytest.mark.parametrize("max_length", [1, 2, 3, 7, 16])
def test_parallel_log_likelihoods_match_allennlp(include_start_end_transitions, max_length):
    """The tree reduction used on the GPU, run on the CPU in float32 and float64."""
    for dtype, tolerance in ((torch.float64, 1e-9), (torch.float32, 1e-5)):
        seed = 100 + 10 * max_length + include_start_end_transitions
        reference, fast = make_crfs(seed, None, include_start_end_transitions, dtype=dtype)
        logits, tags, mask = make_batch(seed, random_lengths(seed, 5, max_length), dtype=dtype)
        logits.requires_grad_()

        expected = reference._joint_likelihood(
            logits, reference.transitions, tags, mask
        ) - reference._input_likelihood(logits, reference.transitions, mask)
        actual = fast._log_likelihoods(logits, tags, mask, True, fast._potential_parameters())

        torch.testing.assert_close(actual, expected, rtol=tolerance, atol=0)
        expected_gradients = gradients(expected.sum(), [logits] + crf_parameters(reference))
        actual_gradients = gradients(actual.sum(), [logits] + crf_parameters(fast))
        for expected_gradient, actual_gradient in zip(expected_gradients, actual_gradients):
            torch.testing.assert_close(
                actual_gradient, expected_gradient, rtol=tolerance, atol=tolerance
            )


@pytest.mark.parametrize("include_start_end_transitions", [True, False])
@pytest.mark.parametrize("parallel", [False, True], ids=["cpu", "gpu"])
@pytest.mark.parametrize("length", [2, 3, 8])
def test_log_likelihoods_match_allennlp_for_masks_that_are_not_left_aligned(
    include_start_end_transitions, parallel, length
):
    """allennlp's sums for any mask, per sentence: log Z over token 0 and the later tokens
    whose mask is True, and its gold score (see the module docstring)."""
    seed = 170 + length + include_start_end_transitions
    reference, fast = make_crfs(seed, None, include_start_end_transitions, dtype=torch.float64)
    logits, tags, _ = make_batch(seed, [length] * 6, dtype=torch.float64)
    mask = scattered_mask(seed, 6, length)
    logits.requires_grad_()

    expected = reference._joint_likelihood(
        logits, reference.transitions, tags, mask
    ) - reference._input_likelihood(logits, reference.transitions, mask)
    actual = fast._log_likelihoods(logits, tags, mask, parallel, fast._potential_parameters())

    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-9)
    assert fast(logits, tags, mask).item() == pytest.approx(
        reference(logits, tags, mask).item(), rel=1e-9
    )
    expected_gradients = gradients(expected.sum(), [logits] + crf_parameters(reference))
    actual_gradients = gradients(actual.sum(), [logits] + crf_parameters(fast))
    for expected_gradient, actual_gradient in zip(expected_gradients, actual_gradients):
        torch.testing.assert_close(actual_gradient, expected_gradient, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("parallel", [False, True], ids=["cpu", "gpu"])
def test_log_likelihood_of_a_sentence_without_tokens_fails_as_in_allennlp(parallel):
    """allennlp's gold score reads the tag at position mask.sum() - 1, i.e. -1 here."""
    reference, fast = make_crfs(180)
    logits, tags, mask = make_batch(180, [3, 3])
    mask[1] = False
    with pytest.raises(RuntimeError, match="index -1 is out of bounds"):
        reference(logits, tags, mask)
    with pytest.raises(RuntimeError, match="index -1 is out of bounds"):
        fast._log_likelihoods(logits, tags, mask, parallel, fast._potential_parameters())


def test_parallel_log_likelihoods_stay_exact_for_large_and_offset_scores():
    """The tree rescales its float64 exponentials; scores far from 0 must neither overflow nor
    lose the small terms."""
    reference, fast = make_crfs(150, None, dtype=torch.float64)
    logits, tags, mask = make_batch(150, [9, 4, 1], dtype=torch.float64)
    for scaled_logits in (100 * logits, logits + 5000.0, logits - 5000.0):
        scaled_logits.requires_grad_()
        expected = reference._joint_likelihood(
            scaled_logits, reference.transitions, tags, mask
        ) - reference._input_likelihood(scaled_logits, reference.transitions, mask)
        actual = fast._log_likelihoods(
            scaled_logits, tags, mask, True, fast._potential_parameters()
        )

        torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(
            gradients(actual.sum(), [scaled_logits])[0],
            gradients(expected.sum(), [scaled_logits])[0],
            rtol=1e-9,
            atol=1e-9,
        )


def assert_same_viterbi_tags(actual, expected, top_k):
    """`viterbi_tags` results: one decoding per sentence, or `top_k` lists of them."""
    if top_k is None:
        assert_same_decodings(actual, expected)
    else:
        assert len(actual) == len(expected)
        for actual_decodings, expected_decodings in zip(actual, expected):
            assert_same_decodings(actual_decodings, expected_decodings)


def assert_same_decodings(actual, expected):
    assert len(actual) == len(expected)
    for actual_decoding, expected_decoding in zip(actual, expected):
        (actual_tags, actual_score), (expected_tags, expected_score) = (
            actual_decoding,
            expected_decoding,
        )
        assert isinstance(actual_tags, list) and all(isinstance(tag, int) for tag in actual_tags)
        assert isinstance(actual_score, float)
        assert actual_tags == expected_tags
        assert actual_score == pytest.approx(expected_score, rel=1e-6)


@pytest.mark.parametrize("constraints", [None, BIOUL], ids=["unconstrained", "bioul"])
@pytest.mark.parametrize("include_start_end_transitions", [True, False])
@pytest.mark.parametrize("top_k", [None, 1, 3])
@pytest.mark.parametrize("parallel", [False, True], ids=["cpu", "gpu"])
@pytest.mark.parametrize("max_length", [1, 8, 9])
def test_viterbi_tags_match_allennlp(
    constraints, include_start_end_transitions, top_k, parallel, max_length
):
    """`parallel=True` forces the GPU code path (the tree decoding for the best path)."""
    seed = 200 + 10 * (top_k or 0) + 2 * include_start_end_transitions + (constraints is None)
    reference, fast = make_crfs(seed, constraints, include_start_end_transitions)
    logits, _, mask = make_batch(seed + max_length, random_lengths(seed, 6, max_length))

    expected = reference.viterbi_tags(logits, mask, top_k=top_k)
    actual = fast._viterbi_tags(logits, mask, top_k, parallel)

    if top_k is None:
        assert_same_decodings(actual, expected)
    else:
        assert [len(decodings) for decodings in actual] == [top_k] * len(expected)
        for actual_decodings, expected_decodings in zip(actual, expected):
            assert_same_decodings(actual_decodings, expected_decodings)


@pytest.mark.parametrize("constraints", [None, BIOUL], ids=["unconstrained", "bioul"])
@pytest.mark.parametrize("top_k", [None, 1, 3])
@pytest.mark.parametrize("parallel", [False, True], ids=["cpu", "gpu"])
def test_viterbi_tags_match_allennlp_for_masks_that_are_not_left_aligned(
    constraints, top_k, parallel
):
    """As allennlp, each sentence is its tokens whose mask is True, in order."""
    seed = 260 + (top_k or 0) + (constraints is None)
    reference, fast = make_crfs(seed, constraints)
    logits, _, _ = make_batch(seed, [9] * 6)
    mask = scattered_mask(seed, 6, 9)

    expected = reference.viterbi_tags(logits, mask, top_k=top_k)
    actual = fast._viterbi_tags(logits, mask, top_k, parallel)

    assert_same_viterbi_tags(actual, expected, top_k)


@pytest.mark.parametrize("include_start_end_transitions", [True, False])
@pytest.mark.parametrize("top_k", [None, 3])
@pytest.mark.parametrize("parallel", [False, True], ids=["cpu", "gpu"])
def test_viterbi_tags_of_a_sentence_without_tokens_match_allennlp(
    include_start_end_transitions, top_k, parallel
):
    """No tags; the score is allennlp's best from START's position to END (-10000 plus the
    best end transition when one is positive)."""
    reference, fast = make_crfs(270, BIOUL, include_start_end_transitions)
    logits, _, mask = make_batch(270, [3, 3, 2])
    mask[1] = False

    expected = reference.viterbi_tags(logits, mask, top_k=top_k)
    actual = fast._viterbi_tags(logits, mask, top_k, parallel)

    assert_same_viterbi_tags(actual, expected, top_k)


def test_viterbi_tags_returns_as_many_paths_as_allennlp_when_top_k_exceeds_them():
    """With two tags, a one-token sentence has 4 * 4 * 4 = 64 START/tag/END paths in allennlp's
    search; top_k=80 returns those 64 only."""
    reference, fast = make_crfs(300, num_tags=2)
    logits, _, mask = make_batch(300, [1, 3], num_tags=2)

    expected = reference.viterbi_tags(logits, mask, top_k=80)
    actual = fast.viterbi_tags(logits, mask, top_k=80)

    assert [len(decodings) for decodings in actual] == [len(decodings) for decodings in expected]
    assert len(actual[0]) == 64
    for actual_decodings, expected_decodings in zip(actual, expected):
        # Many of these paths tie (they differ only in forbidden -10000 steps), so only the
        # scores are compared.
        assert [score for _, score in actual_decodings] == pytest.approx(
            [score for _, score in expected_decodings], rel=1e-6
        )


def rescore(crf: FastConditionalRandomField, logits: torch.Tensor, tags: List[int]) -> float:
    """allennlp's Viterbi score of one sentence's tag sequence (constraints included)."""
    transitions = crf._viterbi_transitions()
    path = [crf.num_tags] + tags + [crf.num_tags + 1]
    score = sum(logits[position, tag].item() for position, tag in enumerate(tags))
    return score + sum(transitions[i, j].item() for i, j in zip(path, path[1:]))


@pytest.mark.parametrize("constraints", [None, BIOUL], ids=["unconstrained", "bioul"])
def test_parallel_best_paths_are_best_paths_under_ties(constraints):
    """With integer scores many paths tie; the tree decoding returns one of the best paths
    (a consistent, allowed path scoring allennlp's best score), not a mix of several."""
    reference, fast = make_crfs(450, constraints)
    with torch.no_grad():
        for parameter in (reference.transitions, reference.start_transitions):
            parameter.copy_(torch.randint(-1, 2, parameter.shape))
        reference.end_transitions.copy_(torch.randint(-1, 2, (NUM_TAGS,)))
    fast.load_state_dict(reference.state_dict())
    generator = torch.Generator().manual_seed(450)
    logits = torch.randint(0, 2, (8, 11, NUM_TAGS), generator=generator).float()
    mask = torch.arange(11)[None, :] < torch.tensor(random_lengths(450, 8, 11))[:, None]

    expected = reference.viterbi_tags(logits, mask)
    actual = fast._viterbi_tags(logits, mask, None, parallel=True)

    for sentence, ((tags, score), (expected_tags, expected_score)) in enumerate(
        zip(actual, expected)
    ):
        assert len(tags) == len(expected_tags)
        assert score == expected_score
        assert rescore(fast, logits[sentence], tags) == score


@pytest.mark.parametrize("top_k", [None, 3])
@pytest.mark.parametrize("parallel", [False, True], ids=["cpu", "gpu"])
def test_batch_of_one_single_token_sentence(top_k, parallel):
    reference, fast = make_crfs(400, BIOUL)
    logits, tags, mask = make_batch(400, [1])

    parameters = fast._potential_parameters()
    actual_log_likelihood = fast._log_likelihoods(logits, tags, mask, parallel, parameters)
    expected_log_likelihood = reference(logits, tags, mask)
    assert actual_log_likelihood.item() == pytest.approx(expected_log_likelihood.item(), rel=1e-6)
    expected = reference.viterbi_tags(logits, mask, top_k=top_k)
    actual = fast._viterbi_tags(logits, mask, top_k, parallel)
    if top_k is not None:
        actual, expected = actual[0], expected[0]
    assert_same_decodings(actual, expected)


@pytest.mark.parametrize("parallel", [False, True], ids=["cpu", "gpu"])
def test_missing_mask_means_all_tokens(parallel):
    reference, fast = make_crfs(500, BIOUL)
    logits, tags, _ = make_batch(500, [4, 4, 4])

    parameters = fast._potential_parameters()
    actual = fast._log_likelihoods(logits, tags, None, parallel, parameters).sum()
    assert actual.item() == pytest.approx(reference(logits, tags).item(), rel=1e-6)
    assert_same_decodings(
        fast._viterbi_tags(logits, None, None, parallel), reference.viterbi_tags(logits)
    )


def test_state_dicts_load_in_both_directions():
    reference, fast = make_crfs(600, BIOUL)
    assert list(fast.state_dict()) == list(reference.state_dict())
    torch.manual_seed(601)
    fast_trained = FastConditionalRandomField(NUM_TAGS, BIOUL)
    reference_from_fast = ConditionalRandomField(NUM_TAGS, BIOUL)
    reference_from_fast.load_state_dict(fast_trained.state_dict())
    logits, tags, mask = make_batch(600, [5, 2, 3])

    assert_same_decodings(
        fast_trained.viterbi_tags(logits, mask), reference_from_fast.viterbi_tags(logits, mask)
    )
    assert fast_trained(logits, tags, mask).item() == pytest.approx(
        reference_from_fast(logits, tags, mask).item(), rel=1e-6
    )


@pytest.mark.parametrize("parallel", [False, True], ids=["cpu", "gpu"])
def test_bad_inputs_raise(parallel):
    _, fast = make_crfs(700)
    logits, tags, mask = make_batch(700, [3, 2])
    with pytest.raises(ValueError, match="top_k"):
        fast.viterbi_tags(logits, mask, top_k=0)
    with pytest.raises(ValueError, match=f"sequence_length, {NUM_TAGS}"):
        fast.viterbi_tags(logits[..., :-1], mask)
    with pytest.raises(ValueError, match=f"sequence_length, {NUM_TAGS}"):
        fast(logits[..., :-1], tags, mask)


@pytest.mark.parametrize("include_start_end_transitions", [True, False])
def test_log_likelihood_with_precomputed_gradient_matches_autograd(include_start_end_transitions):
    """What the CUDA graphs run (log-likelihood and gradient in one pass, gradient kept for
    backward), checked eagerly on the CPU against autograd through allennlp's CRF; two calls
    before one backward must not disturb each other."""
    reference, fast = make_crfs(7, BIOUL, include_start_end_transitions, dtype=torch.float64)
    batches = [make_batch(seed, [6, 3, 1], dtype=torch.float64) for seed in (1, 2, 3)]
    batches[2] = batches[2][:2] + (scattered_mask(3, 3, 6),)
    for logits, _, _ in batches:
        logits.requires_grad_()
    parameters = fast._potential_parameters()

    # A graph's input may be longer than the call's: pad by one step, as the graphs do.
    def compute(logits, tags, mask, last_position, *parameters):
        padded = [
            torch.nn.functional.pad(tensor, (0, 0, 0, 1) if tensor.dim() == 3 else (0, 1))
            for tensor in (logits, tags, mask)
        ]
        return fast._log_likelihood_and_gradients(*padded, last_position, *parameters)

    actual = sum(
        2.0 ** index
        * LossWithPrecomputedGradients.apply(
            compute, logits, tags, mask, torch.tensor(logits.size(1) - 1), *parameters
        )[0]
        for index, (logits, tags, mask) in enumerate(batches)
    )
    expected = sum(
        2.0 ** index * reference(logits, tags, mask)
        for index, (logits, tags, mask) in enumerate(batches)
    )
    assert actual.item() == pytest.approx(expected.item(), rel=1e-9)
    inputs = [logits for logits, _, _ in batches]
    for actual_gradient, expected_gradient in zip(
        gradients(actual, inputs + parameters),
        gradients(expected, inputs + crf_parameters(reference)),
    ):
        torch.testing.assert_close(actual_gradient, expected_gradient, rtol=1e-9, atol=1e-9)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


@cuda
@pytest.mark.parametrize("max_length", [1, 5, 40, 124])
def test_cuda_graphs_give_the_eager_results(max_length):
    """On a GPU: graphed log-likelihood, gradients and Viterbi paths equal the eager ones,
    over repeated shapes (graph replays) and a shape larger than graphs take (eager)."""
    _, graphed = make_crfs(max_length, BIOUL)
    _, eager = make_crfs(max_length, BIOUL)
    graphed = graphed.cuda()
    eager.cuda_graphs = False
    eager = eager.cuda()
    for seed in range(3):
        logits, tags, mask = (
            t.cuda() for t in make_batch(seed, random_lengths(seed, 64, max_length))
        )
        results = []
        for crf in (graphed, eager):
            logits_copy = logits.clone().requires_grad_()
            log_likelihood = crf(logits_copy, tags, mask)
            grads = gradients(log_likelihood, [logits_copy] + crf_parameters(crf))
            results.append((log_likelihood, grads, crf.viterbi_tags(logits, mask)))
        (actual, actual_grads, actual_paths), (expected, expected_grads, expected_paths) = results
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-4)
        for actual_gradient, expected_gradient in zip(actual_grads, expected_grads):
            torch.testing.assert_close(actual_gradient, expected_gradient, rtol=1e-4, atol=1e-5)
        assert [tags for tags, _ in actual_paths] == [tags for tags, _ in expected_paths]
    assert len(graphed._decoding_graphs) == (1 if max_length < 124 else 0)


def test_cuda_graph_path_on_the_cpu_with_an_eager_stand_in(eager_cuda_graphs, monkeypatch):
    """The graph path's padding, caching and gradient wiring, checked where CI runs."""
    reference, fast = make_crfs(11, BIOUL)
    monkeypatch.setattr(
        fast, "_cuda_graph_length", lambda logits, steps: 1 << crf_module._num_levels(steps)
    )
    logits, tags, left_aligned_mask = make_batch(11, [6, 2, 5])
    logits.requires_grad_()
    for mask in (left_aligned_mask, scattered_mask(11, 3, 6)):  # capture, then replay
        actual, expected = fast(logits, tags, mask), reference(logits, tags, mask)
        assert actual.item() == pytest.approx(expected.item(), rel=1e-5)
        for actual_gradient, expected_gradient in zip(
            gradients(actual, [logits] + crf_parameters(fast)),
            gradients(expected, [logits] + crf_parameters(reference)),
        ):
            torch.testing.assert_close(actual_gradient, expected_gradient, rtol=1e-4, atol=1e-5)
        assert_same_decodings(
            fast.viterbi_tags(logits.detach(), mask), reference.viterbi_tags(logits.detach(), mask)
        )
    assert len(fast._log_likelihood_graphs) == len(fast._decoding_graphs) == 1
