import pytest
import torch

from taglm_plugin.lm.adaptive_softmax_loss import AdaptiveSoftmaxLoss


def test_sums_the_exact_negative_log_likelihood():
    torch.manual_seed(0)
    loss = AdaptiveSoftmaxLoss(num_words=30, embedding_dim=8, cutoffs=[5, 15], div_value=2.0)
    embeddings, targets = torch.randn(6, 8), torch.tensor([0, 3, 7, 14, 20, 29])
    log_probs = loss.adaptive_softmax.log_prob(embeddings)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(6))
    expected = -log_probs.gather(1, targets.unsqueeze(1)).sum()
    assert torch.allclose(loss(embeddings, targets), expected)
    assert loss(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long)).item() == 0.0


def test_a_cluster_projection_of_zero_dimensions_is_refused():
    with pytest.raises(ValueError, match="8 // 4.0\\*\\*2 = 0 dimensions"):
        AdaptiveSoftmaxLoss(num_words=30, embedding_dim=8, cutoffs=[5, 15])
