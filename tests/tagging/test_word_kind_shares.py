import pytest
import torch
from allennlp.training.metrics import Metric

from taglm_plugin.tagging.taglm_word_embedding import KIND_PADDING as PAD
from taglm_plugin.tagging.taglm_word_embedding import KIND_PRETRAINED as PRE
from taglm_plugin.tagging.taglm_word_embedding import KIND_TRAINING as TRAIN
from taglm_plugin.tagging.taglm_word_embedding import KIND_UNKNOWN as UNK
from taglm_plugin.tagging.word_kind_shares import WordKindShares


def test_shares_of_all_tokens_and_of_span_tokens_accumulate_until_reset():
    metric = WordKindShares()
    assert metric.get_metric() == {}
    kinds = torch.tensor([[TRAIN, PRE, UNK, PAD], [TRAIN, TRAIN, UNK, PRE]])
    mask = torch.tensor([[True, True, True, False], [True, True, True, False]])
    spans = torch.tensor([[False, True, True, True], [True, False, False, True]])
    metric(kinds, mask, spans)
    # Real tokens: TRAIN PRE UNK TRAIN TRAIN UNK; in spans: PRE UNK TRAIN (padding never counts).
    assert metric.get_metric() == pytest.approx(
        {
            "words-training": 3 / 6,
            "words-pretrained": 1 / 6,
            "words-unknown": 2 / 6,
            "span-words-training": 1 / 3,
            "span-words-pretrained": 1 / 3,
            "span-words-unknown": 1 / 3,
        }
    )
    # Without gold tags only the token shares move.
    metric(torch.tensor([[UNK, UNK]]), torch.tensor([[True, True]]))
    metrics = metric.get_metric(reset=True)
    assert metrics["words-unknown"] == pytest.approx(4 / 8)
    assert metrics["span-words-unknown"] == pytest.approx(1 / 3)
    assert metric.get_metric() == {}


def test_is_registered():
    assert Metric.by_name("word_kind_shares") is WordKindShares


def test_counts_taken_from_one_copy_and_added_to_another_give_the_shares_of_both():
    """How the predictor's worker processes hand their counts to the parent's model."""
    kinds = torch.tensor([[TRAIN, PRE, UNK], [UNK, TRAIN, PAD]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    spans = torch.tensor([[True, False, True], [False, True, False]])
    both, worker, parent = WordKindShares(), WordKindShares(), WordKindShares()
    both(kinds, mask, spans)
    both(kinds[:1], mask[:1])
    worker(kinds, mask, spans)
    parent(kinds[:1], mask[:1])
    parent.add_counts(worker.take_counts())
    assert worker.get_metric() == {}
    assert parent.get_metric() == pytest.approx(both.get_metric())
