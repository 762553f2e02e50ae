"""
`taglm_lm_cache_warmup`: before the first epoch, the cached biLM runs on every training and
validation sentence in large batches, and training then reads every state from the cache; the
trained model is the one trained without the warm-up.
"""
from typing import List

import torch
from allennlp.commands.train import train_model
from allennlp.common import Params

from taglm_plugin.bilm.frozen_bilm import FrozenBiLmEmbedder
from taglm_plugin.bilm.state_cache_warmup import LmCacheWarmupCallback
from taglm_plugin.tagging.conll_column import ConllColumnReader
from taglm_plugin.tagging.taglm_tagger import TagLmTagger
from tests.bilm.test_frozen_bilm import character_lm_archives
from tests.conftest import FIXTURES, REPO_ROOT

TAGGER = FIXTURES / "tagger"
WARMUP_BATCH = 8
WARMUP_TOKENS = 40


def train(tmp_path, name: str, archives, warmup: bool, monkeypatch) -> List[tuple]:
    """Trains the tiny TagLM fixture with the LM cache for one epoch; returns its LM calls as
    (rows, tokens with padding, whether the tagger had run a batch before, whether the GPU
    blocks were released after the call's batch) and the model."""
    calls: List[tuple] = []
    tagger_ran = []

    def recorded_release():
        rows, tokens, ran, _ = calls[-1]
        calls[-1] = (rows, tokens, ran, True)

    lm_states = FrozenBiLmEmbedder._lm_states
    tagger_forward = TagLmTagger.forward

    def counted_lm_states(self, lm_tensors):
        rows, tokens, _ = lm_tensors["elmo_tokens"].shape
        calls.append((rows, tokens, bool(tagger_ran), False))
        return lm_states(self, lm_tensors)

    def marked_forward(self, *args, **kwargs):
        tagger_ran.append(True)
        return tagger_forward(self, *args, **kwargs)

    monkeypatch.setattr(FrozenBiLmEmbedder, "_lm_states", counted_lm_states)
    monkeypatch.setattr(TagLmTagger, "forward", marked_forward)
    monkeypatch.setattr(
        LmCacheWarmupCallback, "_release_gpu_blocks", staticmethod(recorded_release)
    )
    params = Params.from_file(
        str(TAGGER / "taglm_tagger.jsonnet"),
        ext_vars={"FORWARD_LM": archives["forward_archive"],
                  "BACKWARD_LM": archives["backward_archive"], "LM_STATE_DIM": "5"},
    )  # fmt: skip
    params["model"]["lm_embedder"]["cache"] = {"max_memory_mib": 16}
    params["trainer"]["num_epochs"] = 1
    if warmup:
        params["trainer"]["callbacks"] = [
            {"type": "taglm_lm_cache_warmup", "batch_size": WARMUP_BATCH,
             "max_tokens": WARMUP_TOKENS}
        ]
    monkeypatch.chdir(REPO_ROOT)
    model = train_model(params, str(tmp_path / name))
    monkeypatch.undo()
    return calls, model


def test_the_first_epoch_reads_every_state_from_the_cache(tmp_path, monkeypatch):
    archives = character_lm_archives(tmp_path / "lm")
    calls, warm_model = train(tmp_path, "warm", archives, True, monkeypatch)
    sentences = sum(
        len(ConllColumnReader().read_sentences(str(TAGGER / "conll2003" / name)))
        for name in ("eng.train", "eng.testa")
    )
    # Before the tagger's first batch, in batches of up to 8 sentences (the tagger's: 4) and
    # 40 tokens with padding (but a longer sentence alone).
    assert calls and all(not tagger_ran for _, _, tagger_ran, _ in calls)
    assert 4 < max(rows for rows, _, _, _ in calls) <= WARMUP_BATCH
    assert all(rows * tokens <= WARMUP_TOKENS or rows == 1 for rows, tokens, _, _ in calls)
    # A batch that the token bound closed before it had 8 sentences.
    assert any(rows < WARMUP_BATCH and (rows + 1) * tokens > WARMUP_TOKENS
               for rows, tokens, _, _ in calls)  # fmt: skip
    assert len(calls) < sentences / 2
    # The GPU's freed blocks released after every batch (on the CPU, a no-op).
    assert all(released for _, _, _, released in calls)
    cold_calls, cold_model = train(tmp_path, "cold", archives, False, monkeypatch)
    assert all(tagger_ran for _, _, tagger_ran, _ in cold_calls)
    assert max(rows for rows, _, _, _ in cold_calls) <= 4
    warm, cold = warm_model.state_dict(), cold_model.state_dict()
    assert warm.keys() == cold.keys()
    for name in warm:
        torch.testing.assert_close(warm[name], cold[name], atol=1e-5, rtol=0, msg=name)
