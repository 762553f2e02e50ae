from typing import Dict, Optional

import torch
from allennlp.nn.util import dist_reduce_sum
from allennlp.training.metrics.metric import Metric

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.tagging.taglm_word_embedding import (
    KIND_PRETRAINED,
    KIND_TRAINING,
    KIND_UNKNOWN,
)

# The metric names of the kinds, in the order of the counts.
_KINDS = {KIND_TRAINING: "training", KIND_PRETRAINED: "pretrained", KIND_UNKNOWN: "unknown"}


@Metric.register("word_kind_shares")
class WordKindShares(ChecksConfigKeys, Metric):
    """
    How much of the text the tagger embedded with which kind of word vector
    (`taglm_word_embedding`'s `word_kinds`): the share of tokens that used a vector trained on
    the training data (`words-training`), a pretrained vector only (`words-pretrained`) and
    the trained unknown-word vector (`words-unknown`), and the same shares among the tokens of
    gold tagged spans (`span-words-...`, the tokens whose gold tag is not `O`) when gold tags
    are given. No figures before the first token.
    """

    def __init__(self) -> None:
        # [all tokens, span tokens] x kinds, in the order of _KINDS.
        self._counts = torch.zeros(2, len(_KINDS), dtype=torch.long)

    def __call__(  # type: ignore
        self,
        kinds: torch.LongTensor,
        mask: torch.BoolTensor,
        span_mask: Optional[torch.BoolTensor] = None,
    ) -> None:
        """
        # Parameters

        kinds : `torch.LongTensor` of shape `(batch_size, num_tokens)`, from `word_kinds`.
        mask : `torch.BoolTensor` of shape `(batch_size, num_tokens)`, the real tokens.
        span_mask : `torch.BoolTensor` of shape `(batch_size, num_tokens)`, optional
            The real tokens inside gold spans.
        """
        kinds, mask, span_mask = self.detach_tensors(kinds, mask, span_mask)
        codes = torch.tensor(list(_KINDS), device=kinds.device)
        # (batch_size, num_tokens, num_kinds): each token's kind, one-hot.
        one_hot = kinds.unsqueeze(-1) == codes
        counts = [(one_hot & mask.unsqueeze(-1)).sum(dim=(0, 1))]
        if span_mask is None:
            counts.append(torch.zeros_like(counts[0]))
        else:
            counts.append((one_hot & (span_mask & mask).unsqueeze(-1)).sum(dim=(0, 1)))
        # Kept on the inputs' device: no copy to the host per batch.
        self._counts = self._counts.to(kinds.device) + torch.stack(counts)

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        counts = dist_reduce_sum(self._counts.clone()).cpu()
        metrics = {}
        for row, prefix in enumerate(("words", "span-words")):
            total = counts[row].sum().item()
            if total:
                for column, kind in enumerate(_KINDS.values()):
                    metrics[f"{prefix}-{kind}"] = counts[row, column].item() / total
        if reset:
            self.reset()
        return metrics

    def reset(self) -> None:
        self._counts.zero_()

    def take_counts(self) -> torch.LongTensor:
        """The counts so far, `(2, num_kinds)` (all tokens, span tokens), on the CPU; resets."""
        counts = self._counts.cpu().clone()
        self.reset()
        return counts

    def add_counts(self, counts: torch.LongTensor) -> None:
        """Adds counts of `take_counts` (another copy of the model's, a worker process's)."""
        self._counts = self._counts + counts.to(self._counts.device)
