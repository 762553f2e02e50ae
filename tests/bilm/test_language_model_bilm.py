import copy
import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Tuple

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, Instance, Token, TokenIndexer, Vocabulary
from allennlp.data.fields import TextField
from allennlp.models import Model, archival
from allennlp.modules.text_field_embedders import BasicTextFieldEmbedder

from taglm_plugin.bilm.language_model_bilm import (
    LanguageModelBiLm,
    vocabulary_from_json,
    vocabulary_to_json,
)
from taglm_plugin.bilm.sequence_reversal import reverse_padded_sequences
from taglm_plugin.lm.language_model import LanguageModel
from tests.bilm.tiny_bilms import (
    TINY_LM_VOCABULARY,
    tiny_language_model_config,
    write_tiny_language_model,
)
from tests.conftest import count_calls

SENTENCES = [["The", "cat", "sat", "on", "it", "."], ["Dogs", "bark"], ["Yes"]]
ELMO = {"type": "elmo_characters"}


def index(
    sentences: List[List[str]], indexer_params: Dict[str, Any], vocab: Vocabulary = None
) -> Dict[str, torch.Tensor]:
    """The padded tensors of `sentences` from one token indexer, as a text field gives them."""
    indexer = TokenIndexer.from_params(Params(copy.deepcopy(indexer_params)))
    batch = Batch(
        [Instance({"tokens": TextField([Token(w) for w in s], {"lm": indexer})}) for s in sentences]
    )
    batch.index_instances(vocab or Vocabulary())
    return batch.as_tensor_dict()["tokens"]["lm"]


def write_pair(directory, **config) -> Dict[str, Tuple[str, Model]]:
    """A forward and a backward tiny LM: {direction: (archive path, the LM)}."""
    return {
        direction: write_tiny_language_model(
            directory / direction, tiny_language_model_config(direction, **config), seed=seed
        )
        for seed, direction in enumerate(["forward", "backward"])
    }


@pytest.fixture(scope="module")
def character_lms(tmp_path_factory) -> Dict[str, Tuple[str, Model]]:
    return write_pair(tmp_path_factory.mktemp("character_lms"))


@pytest.fixture(scope="module")
def character_bilm(character_lms) -> LanguageModelBiLm:
    return LanguageModelBiLm.from_archives(
        {direction: archive for direction, (archive, _) in character_lms.items()}
    )


def test_states_are_each_lms_own_and_aligned_with_the_tokens(character_lms, character_bilm):
    forward_lm = character_lms["forward"][1].eval()
    backward_lm = character_lms["backward"][1].eval()
    for layer in [0, 1, -1]:
        states = character_bilm(index(SENTENCES, ELMO), layer)
        for row, sentence in enumerate(SENTENCES):
            length = len(sentence)
            forward_expected = forward_lm.contextual_states({"elmo": index([sentence], ELMO)})
            # The backward LM reads the sentence reversed; its state at token t is at
            # position length - 1 - t of what it read.
            backward_expected = backward_lm.contextual_states(
                {"elmo": index([sentence[::-1]], ELMO)}
            )
            torch.testing.assert_close(
                states["forward"][row, :length], forward_expected[layer][0]
            )
            torch.testing.assert_close(
                states["backward"][row, :length], backward_expected[layer][0].flip(0)
            )
            assert not states["forward"][row, length:].any()
            assert not states["backward"][row, length:].any()


@pytest.mark.parametrize("sentences", [
    [["The", "cat", "saw", "the", "cat"], ["The", "cat"]],
    [["cat", "The"], ["The", "cat"]],  # no padding in the batch
])  # fmt: skip
def test_each_distinct_word_of_a_batch_is_embedded_once(character_bilm, monkeypatch, sentences):
    """The token encoders run on the batch's distinct words (and the padding row); the states
    are those of embedding every token (`contextual_states` without `token_types`)."""
    tensors = index(sentences, ELMO)
    mask = tensors["elmo_tokens"].gt(0).any(-1)
    reversed_tensors = {"elmo_tokens": reverse_padded_sequences(tensors["elmo_tokens"], mask)}
    forward_lm, backward_lm = character_bilm.language_models.values()
    expected = {
        "forward": forward_lm.contextual_states({"elmo": tensors}),
        "backward": [
            reverse_padded_sequences(states, mask)
            for states in backward_lm.contextual_states({"elmo": reversed_tensors})
        ],
    }
    rows = []
    for language_model in (forward_lm, backward_lm):
        embedder = language_model._text_field_embedder

        def counted(tokens, *args, _embed=embedder.forward, **kwargs):
            rows.append(tuple(tokens["elmo"]["elmo_tokens"].shape[:2]))
            return _embed(tokens, *args, **kwargs)

        monkeypatch.setattr(embedder, "forward", counted)
    distinct = len({word for sentence in sentences for word in sentence})
    for layer in [0, -1]:
        rows.clear()
        states = character_bilm(tensors, layer)
        assert rows == [(1, distinct + 1)] * 2
        for direction in ("forward", "backward"):
            torch.testing.assert_close(
                states[direction], expected[direction][layer], atol=1e-6, rtol=0
            )


def test_token_encoders_that_mix_tokens_embed_every_token(character_lms, monkeypatch):
    """Only an LM whose token embedders embed each token alone gets the distinct words."""
    assert all(lm.embeds_tokens_alone for _, lm in character_lms.values())
    monkeypatch.setattr(LanguageModel, "embeds_tokens_alone", property(lambda self: False))
    bilm = LanguageModelBiLm.from_archives(
        {direction: archive for direction, (archive, _) in character_lms.items()}
    )
    rows = count_calls(monkeypatch, BasicTextFieldEmbedder, "forward")
    bilm(index([["cat", "cat", "cat"]], ELMO), -1)  # distinct words: (1, 2)
    assert [tuple(tokens["elmo"]["elmo_tokens"].shape[:2]) for _, tokens in rows] == [(1, 3)] * 2


def test_layers_dims_and_indexer_of_the_loaded_lms(character_bilm):
    assert character_bilm.num_layers == 3
    assert character_bilm.layer_dims(0) == {"forward": 6, "backward": 6}
    assert character_bilm.layer_dims(-1) == {"forward": 5, "backward": 5}
    assert character_bilm.token_indexer_params() == ELMO
    assert character_bilm.vocabulary_namespaces() == {}
    assert [name for name, _ in character_bilm.named_children()] == ["forward_lm", "backward_lm"]
    assert not any(lm.training for lm in character_bilm.language_models.values())


def test_one_direction(character_lms):
    bilm = LanguageModelBiLm.from_archives({"backward": character_lms["backward"][0]})
    assert bilm.layer_dims(2) == {"backward": 5}
    assert set(bilm(index(SENTENCES, ELMO), 2)) == {"backward"}


def test_softmax_of_a_full_lm_archive_is_left_out(tmp_path):
    config = tiny_language_model_config("forward", softmax="full")
    archive, language_model = write_tiny_language_model(tmp_path, config)
    assert [name for name in language_model.state_dict() if "_softmax_loss" in name]
    bilm = LanguageModelBiLm.from_archives({"forward": archive})
    assert not [name for name in bilm.state_dict() if "_softmax_loss" in name]
    assert bilm.spec()["language_models"]["forward"]["model"]["softmax"] is None
    tensors = index(SENTENCES, ELMO)
    torch.testing.assert_close(
        bilm(tensors, -1)["forward"],
        language_model.eval().contextual_states({"elmo": tensors})[-1],
    )


@pytest.mark.parametrize("softmax", ["full", None])
def test_every_archive_is_loaded_once(tmp_path, monkeypatch, softmax):
    archives = {
        direction: archive
        for direction, (archive, _) in write_pair(tmp_path, softmax=softmax).items()
    }
    loaded = count_calls(monkeypatch, archival, "load_archive")
    bilm = LanguageModelBiLm.from_archives(archives)
    assert len(loaded) == 2
    assert not [name for name in bilm.state_dict() if "_softmax_loss" in name]


def test_from_spec_rebuilds_the_lms_for_the_saved_weights(tmp_path):
    lms = write_pair(tmp_path, word_namespace="lm_words")
    bilm = LanguageModelBiLm.from_archives({d: archive for d, (archive, _) in lms.items()})
    rebuilt = LanguageModelBiLm.from_spec(json.loads(json.dumps(bilm.spec())))
    rebuilt.load_state_dict(bilm.state_dict())
    rebuilt.eval()
    vocab = Vocabulary(TINY_LM_VOCABULARY)
    tensors = index(SENTENCES, {"type": "single_id", "namespace": "lm_words"}, vocab)
    for direction, states in bilm(tensors, -1).items():
        assert torch.equal(states, rebuilt(tensors, -1)[direction])
    assert rebuilt.vocabulary_namespaces() == {
        "lm_words": vocab.get_index_to_token_vocabulary("lm_words")
    }


def test_vocabulary_json_round_trip():
    vocab = Vocabulary(TINY_LM_VOCABULARY, non_padded_namespaces=["lm_targets"], oov_token="<unk>")
    restored = vocabulary_from_json(
        json.loads(json.dumps(vocabulary_to_json(vocab, None, "<unk>")))
    )
    for namespace in TINY_LM_VOCABULARY:
        assert restored.get_index_to_token_vocabulary(
            namespace
        ) == vocab.get_index_to_token_vocabulary(namespace)
    assert not restored.is_padded("lm_targets") and restored.is_padded("lm_words")


def test_vocabulary_json_is_the_same_in_every_process():
    """allennlp writes non_padded_namespaces.txt from a set: its order follows PYTHONHASHSEED
    (1 and 2 give the two orders of allennlp's default two namespaces)."""
    script = (
        "from allennlp.data import Vocabulary;"
        "from taglm_plugin.bilm.language_model_bilm import vocabulary_to_json;"
        "import json; print(json.dumps(vocabulary_to_json(Vocabulary({'w': {'a': 1}}), None, 'u')))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env=dict(os.environ, PYTHONHASHSEED=seed),
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_archive_holding_the_other_direction(character_lms):
    with pytest.raises(
        ConfigurationError,
        match=r"pretrained_file.forward_archive = .*backward.* holds a backward LM",
    ):
        LanguageModelBiLm.from_archives({"forward": character_lms["backward"][0]})


def test_archive_of_another_model(tmp_path):
    config = tiny_language_model_config("forward")
    config["model"] = {
        "type": "basic_classifier",
        "text_field_embedder": config["model"]["text_field_embedder"],
        "seq2vec_encoder": {"type": "boe", "embedding_dim": 6},
    }
    vocab = Vocabulary({"labels": {"yes": 1, "no": 1}})
    archive, _ = write_tiny_language_model(tmp_path, config, vocab=vocab)
    with pytest.raises(
        ConfigurationError, match="holds a 'basic_classifier' model, not a taglm_language_model"
    ):
        LanguageModelBiLm.from_archives({"forward": archive})


def test_lms_must_read_the_same_input(tmp_path, character_lms):
    backward, _ = write_tiny_language_model(
        tmp_path / "backward", tiny_language_model_config("backward", word_namespace="lm_words")
    )
    with pytest.raises(ConfigurationError, match="index their tokens differently"):
        LanguageModelBiLm.from_archives(
            {"forward": character_lms["forward"][0], "backward": backward}
        )

    other_words = Vocabulary({**TINY_LM_VOCABULARY, "lm_words": {"cats": 1, "meow": 1}})
    forward, _ = write_tiny_language_model(
        tmp_path / "forward_words", tiny_language_model_config("forward", "lm_words")
    )
    backward, _ = write_tiny_language_model(
        tmp_path / "backward_words",
        tiny_language_model_config("backward", "lm_words"),
        vocab=other_words,
    )
    with pytest.raises(ConfigurationError, match=r"vocabularies differ .*\['lm_words'\]"):
        LanguageModelBiLm.from_archives({"forward": forward, "backward": backward})


def test_lms_must_have_as_many_layers(tmp_path, character_lms):
    forward, _ = write_tiny_language_model(
        tmp_path, tiny_language_model_config("forward", num_layers=1)
    )
    with pytest.raises(ConfigurationError, match="different numbers of layers"):
        LanguageModelBiLm.from_archives(
            {"forward": forward, "backward": character_lms["backward"][0]}
        )


def test_config_without_token_indexers(tmp_path):
    config = tiny_language_model_config("forward")
    del config["dataset_reader"]["token_indexers"]
    archive, _ = write_tiny_language_model(tmp_path, config)
    with pytest.raises(ConfigurationError, match="no dataset_reader.token_indexers"):
        LanguageModelBiLm.from_archives({"forward": archive})


def test_tokens_from_another_indexer(character_bilm):
    with pytest.raises(ConfigurationError, match=r"produces \['elmo_tokens'\], but .*\['tokens'\]"):
        character_bilm({"tokens": torch.ones(2, 3, dtype=torch.long)}, -1)
