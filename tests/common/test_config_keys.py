"""
A misspelt key of one of the project's components fails with a ConfigurationError naming its
full configuration path and the closest parameter, through `allennlp train`'s `train_model`
and through `from_params` of a registered base class.
"""
import json

import _jsonnet
import pytest
from allennlp.commands.subcommand import Subcommand
from allennlp.commands.train import train_model
from allennlp.common import Params, Registrable
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.modules import TokenEmbedder

import taglm_plugin  # noqa: F401 (registers the components)
from taglm_plugin.common.config_keys import ChecksConfigKeys, unknown_override_keys
from tests.conftest import FIXTURES

BASELINE_CONFIG = FIXTURES / "tagger" / "baseline_tagger.jsonnet"


@pytest.mark.parametrize(
    "component, misspelt, meant, names",
    [
        (["dataset_reader"], "seperator", "separator", "'taglm_conll' (ConllColumnReader)"),
        (
            ["dataset_reader", "token_indexers", "tokens"], "lowercase_tokenz",
            "lowercase_tokens", "'normalized_single_id' (NormalizedSingleIdTokenIndexer)",
        ),
        (["model"], "dropuot", "dropout", "'taglm_tagger' (TagLmTagger)"),
        (["model", "encoder"], "hiden_sizes", "hidden_sizes", "'taglm_birnn' (TagLmBiRnnEncoder)"),
    ],
)  # fmt: skip
def test_train_names_the_path_of_a_misspelt_key(tmp_path, component, misspelt, meant, names):
    config = json.loads(_jsonnet.evaluate_file(str(BASELINE_CONFIG)))
    section = config
    for key in component:
        section = section[key]
    section[misspelt] = section.pop(meant, 1)
    path = ".".join([*component, misspelt])
    expected = f"{path} (did you mean '{meant}'?): not a parameter of {names}. Its parameters: "
    with pytest.raises(ConfigurationError) as error:
        train_model(Params(config), str(tmp_path / "run"))
    assert str(error.value).startswith(expected)
    assert f" {meant}," in str(error.value) or str(error.value).endswith(f" {meant}")


def test_every_unknown_key_is_named_and_allennlps_own_arguments_are_not_listed():
    params = Params(
        {"type": "taglm_word_embedding", "embeding_dim": 3, "colour": "red"},
        history="model.text_field_embedder.token_embedders.tokens.",
    )
    with pytest.raises(ConfigurationError) as error:
        TokenEmbedder.from_params(params, vocab=Vocabulary())
    prefix = "model.text_field_embedder.token_embedders.tokens."
    message = str(error.value)
    assert message.startswith(
        f"{prefix}colour; {prefix}embeding_dim (did you mean 'embedding_dim'?): "
        "not a parameter of 'taglm_word_embedding' (TaglmWordEmbedding). Its parameters: "
    )
    assert "vocab" not in message.split("Its parameters: ")[1].split(", ")


def test_every_registered_component_of_the_plugin_checks_its_keys():
    components = {
        subclass
        for registry in Registrable._registry.values()
        for subclass, _ in registry.values()
        if subclass.__module__.startswith("taglm_plugin.")
        # Subcommands are command-line parsers, not built from configs.
        and not issubclass(subclass, Subcommand)
    }
    assert len(components) >= 20
    unchecked = sorted(c.__name__ for c in components if not issubclass(c, ChecksConfigKeys))
    assert not unchecked


def test_unknown_override_keys_names_keys_of_typed_objects_that_their_component_does_not_take():
    config = {
        "model": {"type": "taglm_tagger", "encoder": {"type": "taglm_birnn", "dropout_mask": 1}},
        "data_loader": {"batch_size": 8},  # no type: allennlp's default, not checked
        "trainer": {
            "type": "gradient_descent",
            "optimizer": {"type": "adam", "lr": 0.1},
            "callbacks": [{"type": "tensorboard"}],
        },
    }
    overrides = {
        "model.encoder.dropout_mask": "sentence",
        "model.encoder.dropout_msk": "sentence",
        "data_loader.batch_sise": 8,
        "trainer": {"optimizer": {"lr": 0.002, "lrate": 0.002}},
        "trainer.callbacks.0.summary_interval": 10,
        "trainer.callbacks.0.summary_intervall": 10,
        "trainer.callbacks.3.anything": 1,  # no such item: allennlp's own error
    }
    assert unknown_override_keys(config, overrides) == [
        "model.encoder.dropout_msk: not a parameter of 'taglm_birnn'",
        "trainer.optimizer.lrate: not a parameter of 'adam'",
        "trainer.callbacks.0.summary_intervall: not a parameter of 'tensorboard'",
    ]


def test_unknown_override_keys_accepts_what_any_component_of_a_shared_name_takes():
    # `lstm` names a Seq2SeqEncoder and a Seq2VecEncoder; both take hidden_size.
    config = {"encoder": {"type": "lstm", "hidden_size": 4}}
    assert unknown_override_keys(config, {"encoder.hidden_size": 8}) == []
    assert unknown_override_keys(config, {"encoder.hiden_size": 8}) == [
        "encoder.hiden_size: not a parameter of 'lstm'"
    ]
