import numpy
import pytest
import torch
from allennlp.modules.sampled_softmax_loss import SampledSoftmaxLoss, _choice

from taglm_plugin.lm import log_uniform_sampled_softmax_loss as module
from taglm_plugin.lm.conventions import IGNORED_TARGET
from taglm_plugin.lm.log_uniform_sampled_softmax_loss import (
    LogUniformSampledSoftmaxLoss,
    log_uniform_choice,
)

NUM_WORDS, NUM_SAMPLES = 30, 8


def test_samples_are_distinct_words_in_range():
    torch.manual_seed(0)
    loss = LogUniformSampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES)
    cpu = torch.device("cpu")
    words, num_tries = log_uniform_choice(NUM_WORDS, NUM_SAMPLES, loss.num_draws, cpu)
    assert words.shape == (NUM_SAMPLES,) and len(set(words.tolist())) == NUM_SAMPLES
    assert 0 <= words.min() and words.max() < NUM_WORDS
    assert NUM_SAMPLES <= num_tries <= loss.num_draws


def test_same_distribution_as_allennlps_sampler():
    torch.manual_seed(0)
    numpy.random.seed(0)
    num_draws = LogUniformSampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES).num_draws
    runs = 4000
    cpu = torch.device("cpu")
    ours = [log_uniform_choice(NUM_WORDS, NUM_SAMPLES, num_draws, cpu) for _ in range(runs)]
    theirs = [_choice(NUM_WORDS, NUM_SAMPLES) for _ in range(runs)]
    our_tries = numpy.array([float(tries) for _, tries in ours])
    their_tries = numpy.array([tries for _, tries in theirs])
    standard_error = their_tries.std() * (2 / runs) ** 0.5
    assert abs(our_tries.mean() - their_tries.mean()) < 4 * standard_error
    our_words = numpy.concatenate([w.numpy() for w, _ in ours])
    their_words = numpy.concatenate([w for w, _ in theirs])
    our_inclusion = numpy.bincount(our_words, minlength=NUM_WORDS)
    their_inclusion = numpy.bincount(their_words, minlength=NUM_WORDS)
    # Inclusion frequency of every word, within a few binomial standard errors.
    p = their_inclusion / runs
    tolerance = 5 * numpy.sqrt(p * (1 - p) * 2 / runs) + 1e-3
    assert (numpy.abs(our_inclusion / runs - p) <= tolerance).all()


def test_same_loss_as_allennlps_for_the_same_sample(monkeypatch):
    torch.manual_seed(1)
    ours = LogUniformSampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES)
    theirs = SampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES)
    theirs.load_state_dict(ours.state_dict())
    cpu = torch.device("cpu")
    words, num_tries = log_uniform_choice(NUM_WORDS, NUM_SAMPLES, ours.num_draws, cpu)
    monkeypatch.setattr(module, "log_uniform_choice", lambda *args: (words, num_tries))
    theirs.choice_func = lambda num_words, num_samples: (words.numpy(), int(num_tries))
    embeddings = torch.randn(6, 4)
    targets = torch.tensor([0, 1, 5, 7, 29, 0])
    for model in (ours, theirs):
        model.train()
    torch.testing.assert_close(ours(embeddings, targets), theirs(embeddings, targets))
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(embeddings, targets), theirs(embeddings, targets))


def test_evaluation_in_chunks_is_allennlps_full_softmax(monkeypatch):
    torch.manual_seed(3)
    ours = LogUniformSampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES).eval()
    theirs = SampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES).eval()
    with torch.no_grad():
        ours.softmax_b.normal_()  # allennlp initializes it to zeros
    theirs.load_state_dict(ours.state_dict())
    # 11 rows in chunks of 4, 4 and 3; padding in the first and the last chunk.
    monkeypatch.setattr(module, "EVAL_CHUNK_ROWS", 4)
    targets = torch.tensor([IGNORED_TARGET, 3, 0, 29, 7, 7, 12, 1, 2, IGNORED_TARGET, 5])
    embeddings = torch.randn(11, 4, requires_grad=True)
    results = []
    for loss in (ours, theirs):
        value = loss(embeddings, targets)
        results.append((value, torch.autograd.grad(value, [embeddings, *loss.parameters()])))
    (ours_loss, ours_grads), (theirs_loss, theirs_grads) = results
    torch.testing.assert_close(ours_loss, theirs_loss)
    for ours_grad, theirs_grad in zip(ours_grads, theirs_grads):
        torch.testing.assert_close(ours_grad, theirs_grad)
    assert ours_grads[0][0].abs().sum() == 0 and ours_grads[0][9].abs().sum() == 0


def fixed_sample(monkeypatch, loss: LogUniformSampledSoftmaxLoss) -> None:
    sample = log_uniform_choice(NUM_WORDS, NUM_SAMPLES, loss.num_draws, torch.device("cpu"))
    monkeypatch.setattr(module, "log_uniform_choice", lambda *args: sample)


@pytest.mark.parametrize("training", [True, False])
def test_ignored_targets_add_nothing_to_the_loss_or_the_gradients(monkeypatch, training):
    torch.manual_seed(2)
    loss = LogUniformSampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES)
    loss.train(training)
    fixed_sample(monkeypatch, loss)
    targets = torch.tensor([3, IGNORED_TARGET, 0, 29, IGNORED_TARGET, 7])
    kept = targets != IGNORED_TARGET
    embeddings = torch.randn(6, 4, requires_grad=True)
    padded = loss(embeddings, targets)
    (padded_grad,) = torch.autograd.grad(padded, embeddings)
    selected = loss(embeddings[kept], targets[kept])
    (selected_grad,) = torch.autograd.grad(selected, embeddings)
    torch.testing.assert_close(padded, selected)
    torch.testing.assert_close(padded_grad, selected_grad)
    assert (padded_grad[~kept] == 0).all()


def test_bfloat16_logits_operands_are_close_to_float32_with_float32_results(monkeypatch):
    torch.manual_seed(3)
    exact = LogUniformSampledSoftmaxLoss(NUM_WORDS, 16, NUM_SAMPLES)
    rounded = LogUniformSampledSoftmaxLoss(NUM_WORDS, 16, NUM_SAMPLES, logits_precision="bfloat16")
    rounded.load_state_dict(exact.state_dict())
    fixed_sample(monkeypatch, exact)
    embeddings = torch.randn(40, 16)
    targets = torch.randint(0, NUM_WORDS, (40,))
    results = []
    for loss in (exact, rounded):
        loss.zero_grad()
        value = loss(embeddings, targets)
        value.backward()
        assert value.dtype == loss.softmax_w.grad.dtype == torch.float32
        results.append((value, loss.softmax_w.grad))
    (exact_value, exact_grad), (rounded_value, rounded_grad) = results
    assert not torch.equal(exact_value, rounded_value)
    torch.testing.assert_close(rounded_value, exact_value, rtol=1e-2, atol=0)
    torch.testing.assert_close(rounded_grad, exact_grad, rtol=5e-2, atol=5e-2)


def test_unknown_logits_precision_is_an_error():
    with pytest.raises(ValueError, match="logits_precision must be one of"):
        LogUniformSampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES, logits_precision="float16")


def test_state_dict_names_are_allennlps():
    assert set(LogUniformSampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES).state_dict()) == {
        "softmax_w",
        "softmax_b",
    }
