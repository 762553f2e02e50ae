import json

import h5py
import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.modules.elmo import batch_to_ids

from taglm_plugin.bilm.elmo_file_bilm import (
    ElmoFileBiLm,
    check_elmo_options,
    elmo_weight_layout,
)
from tests.bilm.tiny_bilms import TINY_ELMO_OPTIONS, write_tiny_elmo

SENTENCES = [["The", "cat", "sat", "."], ["Dogs", "bark"]]


def with_option(section, key, value):
    options = json.loads(json.dumps(TINY_ELMO_OPTIONS))
    options[section][key] = value
    return options


@pytest.mark.integration
def test_layout_is_that_of_the_allennlp_fixture(shared_data):
    fixture = shared_data / "elmo_fixture"
    options = json.loads((fixture / "options.json").read_text())
    datasets = {}
    with h5py.File(fixture / "lm_weights.hdf5", "r") as weights:
        weights.visititems(
            lambda name, item: datasets.update({name: item.shape})
            if isinstance(item, h5py.Dataset)
            else None
        )
    assert datasets == elmo_weight_layout(options)


def test_states_per_layer_and_direction(tmp_path):
    bilm = ElmoFileBiLm.from_files(*write_tiny_elmo(tmp_path))
    assert bilm.num_layers == 3
    assert bilm.layer_dims(-1) == {"forward": 4, "backward": 4}
    character_ids = batch_to_ids(SENTENCES)
    token_layer = bilm({"elmo_tokens": character_ids}, 0)
    # Layer 0 is the context-free character CNN embedding, the same for both directions.
    assert torch.equal(token_layer["forward"], token_layer["backward"])
    bilm.reset_states()
    top_layer = bilm({"elmo_tokens": character_ids}, -1)
    assert top_layer["forward"].shape == (2, 4, 4)
    assert not torch.equal(top_layer["forward"], top_layer["backward"])
    assert top_layer["backward"][1, 2:].abs().sum() == 0
    assert top_layer["backward"][1, :2].abs().sum() > 0


def test_states_carry_over_batches_until_reset(tmp_path):
    bilm = ElmoFileBiLm.from_files(*write_tiny_elmo(tmp_path))
    character_ids = {"elmo_tokens": batch_to_ids(SENTENCES)}
    first = bilm(character_ids, -1)["forward"]
    second = bilm(character_ids, -1)["forward"]
    bilm.reset_states()
    after_reset = bilm(character_ids, -1)["forward"]
    assert not torch.allclose(first, second)
    assert torch.equal(first, after_reset)


def test_from_spec_rebuilds_the_modules_for_the_saved_weights(tmp_path):
    bilm = ElmoFileBiLm.from_files(*write_tiny_elmo(tmp_path))
    rebuilt = ElmoFileBiLm.from_spec(json.loads(json.dumps(bilm.spec())))
    character_ids = {"elmo_tokens": batch_to_ids(SENTENCES)}
    assert rebuilt(character_ids, 1)["backward"].abs().sum() == 0
    rebuilt.reset_states()
    rebuilt.load_state_dict(bilm.state_dict())
    assert torch.equal(bilm(character_ids, 1)["backward"], rebuilt(character_ids, 1)["backward"])
    assert rebuilt.token_indexer_params() == {"type": "elmo_characters"}
    assert rebuilt.vocabulary_namespaces() == {}


def test_weight_file_must_match_options(tmp_path):
    options_file, weight_file = write_tiny_elmo(tmp_path)
    with h5py.File(weight_file, "a") as weights:
        del weights["CNN_high_0/b_carry"]
        del weights["CNN_proj/W_proj"]
        weights.create_dataset("CNN_proj/W_proj", data=torch.zeros(6, 4).numpy())
    with pytest.raises(ConfigurationError) as error:
        ElmoFileBiLm.from_files(options_file, weight_file)
    message = str(error.value)
    assert weight_file in message and options_file in message
    assert "CNN_high_0/b_carry is missing" in message
    assert "CNN_proj/W_proj has shape (6, 4), expected (5, 4)" in message


@pytest.mark.parametrize(
    "options, problem",
    [
        (with_option("lstm", "use_skip_connections", False), "use_skip_connections"),
        (with_option("char_cnn", "n_characters", 261), "char_cnn.n_characters = 261"),
        (with_option("char_cnn", "max_characters_per_token", 30), "max_characters_per_token = 30"),
        (with_option("char_cnn", "activation", "sigmoid"), "char_cnn.activation"),
        ({"lstm": TINY_ELMO_OPTIONS["lstm"], "char_cnn": {}}, "missing option char_cnn.embedding"),
    ],
)
def test_options_allennlp_cannot_run_are_rejected(options, problem):
    with pytest.raises(ConfigurationError) as error:
        check_elmo_options(options, "my/options.json")
    assert str(error.value).startswith("my/options.json: ") and problem in str(error.value)


def test_input_must_come_from_the_elmo_characters_indexer(tmp_path):
    bilm = ElmoFileBiLm.from_files(*write_tiny_elmo(tmp_path))
    with pytest.raises(ConfigurationError, match="elmo_characters"):
        bilm({"tokens": torch.ones(2, 3, dtype=torch.long)}, -1)
