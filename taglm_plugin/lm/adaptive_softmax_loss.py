from typing import List

import torch

from taglm_plugin.lm.conventions import IGNORED_TARGET


class AdaptiveSoftmaxLoss(torch.nn.Module):
    """
    `torch.nn.AdaptiveLogSoftmaxWithLoss` (Grave et al., 2017) with the interface of allennlp's
    `SoftmaxLoss` and `SampledSoftmaxLoss`: the summed negative log likelihood of the targets.
    The adaptive softmax is an exact, normalized distribution, in training as in evaluation.

    Word ids must be sorted by decreasing frequency (allennlp's `Vocabulary` does that), so that
    the head cluster holds the frequent words.

    # Parameters

    num_words : `int`
    embedding_dim : `int`
    cutoffs : `List[int]`
        Increasing word ids between 0 and `num_words` where the head cluster and each tail
        cluster end, e.g. `[2000, 10000]`.
    div_value : `float`, optional (default = `4.0`)
        Each tail cluster's projection is `div_value` times smaller than the previous one's
        (the first is `embedding_dim / div_value`); none may round down to 0.
    """

    def __init__(
        self, num_words: int, embedding_dim: int, cutoffs: List[int], div_value: float = 4.0
    ) -> None:
        super().__init__()
        smallest_projection = int(embedding_dim // div_value ** len(cutoffs))
        if smallest_projection < 1:
            raise ValueError(
                f"with {len(cutoffs)} tail clusters the last one's projection would have "
                f"{embedding_dim} // {div_value}**{len(cutoffs)} = 0 dimensions"
            )
        self.adaptive_softmax = torch.nn.AdaptiveLogSoftmaxWithLoss(
            embedding_dim, num_words, cutoffs, div_value=div_value
        )

    def forward(self, embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """
        # Parameters

        embeddings : `torch.Tensor`
            `(num_targets, embedding_dim)`.
        targets : `torch.Tensor`
            `(num_targets,)` word ids in `[0, num_words)`, or `IGNORED_TARGET` (left out).

        # Returns

        The scalar sum over targets of `-log p(target)`.
        """
        if embeddings.size(0) == 0:
            return embeddings.new_zeros(())
        log_probs = self.adaptive_softmax(embeddings, targets.clamp(min=0)).output
        return -torch.where(targets != IGNORED_TARGET, log_probs, 0.0).sum()
