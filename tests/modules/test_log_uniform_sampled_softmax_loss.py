import numpy
import torch
from allennlp.modules.sampled_softmax_loss import SampledSoftmaxLoss, _choice

from taglm_plugin.modules import log_uniform_sampled_softmax_loss as module
from taglm_plugin.modules.log_uniform_sampled_softmax_loss import (
    LogUniformSampledSoftmaxLoss,
    log_uniform_choice,
)

NUM_WORDS, NUM_SAMPLES = 30, 8


def test_samples_are_distinct_words_in_range():
    torch.manual_seed(0)
    loss = LogUniformSampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES)
    words, num_tries = log_uniform_choice(NUM_WORDS, NUM_SAMPLES, loss.num_draws, torch.device("cpu"))
    assert words.shape == (NUM_SAMPLES,) and len(set(words.tolist())) == NUM_SAMPLES
    assert 0 <= words.min() and words.max() < NUM_WORDS
    assert NUM_SAMPLES <= num_tries <= loss.num_draws


def test_same_distribution_as_allennlps_sampler():
    torch.manual_seed(0)
    numpy.random.seed(0)
    num_draws = LogUniformSampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES).num_draws
    runs = 4000
    ours = [log_uniform_choice(NUM_WORDS, NUM_SAMPLES, num_draws, torch.device("cpu")) for _ in range(runs)]
    theirs = [_choice(NUM_WORDS, NUM_SAMPLES) for _ in range(runs)]
    our_tries = numpy.array([float(tries) for _, tries in ours])
    their_tries = numpy.array([tries for _, tries in theirs])
    standard_error = their_tries.std() * (2 / runs) ** 0.5
    assert abs(our_tries.mean() - their_tries.mean()) < 4 * standard_error
    our_inclusion = numpy.bincount(numpy.concatenate([w.numpy() for w, _ in ours]), minlength=NUM_WORDS)
    their_inclusion = numpy.bincount(numpy.concatenate([w for w, _ in theirs]), minlength=NUM_WORDS)
    # Inclusion frequency of every word, within a few binomial standard errors.
    p = their_inclusion / runs
    tolerance = 5 * numpy.sqrt(p * (1 - p) * 2 / runs) + 1e-3
    assert (numpy.abs(our_inclusion / runs - p) <= tolerance).all()


def test_same_loss_as_allennlps_for_the_same_sample(monkeypatch):
    torch.manual_seed(1)
    ours = LogUniformSampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES)
    theirs = SampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES)
    theirs.load_state_dict(ours.state_dict())
    words, num_tries = log_uniform_choice(NUM_WORDS, NUM_SAMPLES, ours.num_draws, torch.device("cpu"))
    monkeypatch.setattr(module, "log_uniform_choice", lambda *args: (words, num_tries))
    theirs.choice_func = lambda num_words, num_samples: (words.numpy(), int(num_tries))
    embeddings = torch.randn(6, 4)
    targets = torch.tensor([0, 1, 5, 7, 29, 0])
    for model in (ours, theirs):
        model.train()
    torch.testing.assert_close(ours(embeddings, targets), theirs(embeddings, targets))
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(embeddings, targets), theirs(embeddings, targets))


def test_state_dict_names_are_allennlps():
    assert set(LogUniformSampledSoftmaxLoss(NUM_WORDS, 4, NUM_SAMPLES).state_dict()) == {
        "softmax_w",
        "softmax_b",
    }
