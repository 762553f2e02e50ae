import copy
import json
import shutil
import sys
from typing import Any, Dict, List, Tuple

import h5py
import numpy
import pytest
import torch
from allennlp.commands import main as allennlp_main
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, TextFieldTensors, Vocabulary
from allennlp.data.token_indexers import ELMoTokenCharactersIndexer
from allennlp.models import Model
from allennlp.models.archival import archive_model
from allennlp.modules import TokenEmbedder
from allennlp.modules.elmo import batch_to_ids

from taglm_plugin.bilm.elmo_file_bilm import ElmoFileBiLm
from taglm_plugin.bilm.frozen_bilm import FrozenBiLmEmbedder
from taglm_plugin.common.safe_loading import load_archive
from taglm_plugin.training.reloaded_state import reloaded_state_keys
from tests.bilm.tiny_bilms import (
    TINY_ELMO_OPTIONS,
    TINY_LM_VOCABULARY,
    tiny_language_model_config,
    write_tiny_elmo,
    write_tiny_language_model,
)

SENTENCES = [["The", "cat", "sat", "on", "it", "."], ["Dogs", "bark"]]


@Model.register("frozen_bilm_test_tagger", exist_ok=True)
class FrozenBiLmTestTagger(Model):
    """A tagger-like model: frozen LM states of the `lm` indexer, a linear layer, a loss."""

    def __init__(self, vocab: Vocabulary, lm_embedder: TokenEmbedder) -> None:
        super().__init__(vocab)
        self.lm_embedder = lm_embedder
        self.dropout = torch.nn.Dropout(0.5)
        self.projection = torch.nn.Linear(
            lm_embedder.get_output_dim(), vocab.get_vocab_size("labels")
        )

    def forward(  # type: ignore
        self, tokens: TextFieldTensors, tags: torch.Tensor = None, metadata: List[Any] = None
    ) -> Dict[str, torch.Tensor]:
        logits = self.projection(self.dropout(self.lm_embedder(**tokens["lm"])))
        output = {"logits": logits}
        if tags is not None:
            output["loss"] = torch.nn.functional.cross_entropy(logits.transpose(1, 2), tags)
        return output


def elmo_embedder(tmp_path, **config) -> FrozenBiLmEmbedder:
    options_file, weight_file = write_tiny_elmo(tmp_path / "elmo")
    pretrained_file = {"options_file": options_file, "weight_file": weight_file}
    return FrozenBiLmEmbedder(**{"expected_dim": 8, "pretrained_file": pretrained_file, **config})


def character_ids(sentences=SENTENCES) -> Dict[str, torch.Tensor]:
    return {"elmo_tokens": batch_to_ids(sentences)}


@pytest.mark.integration
def test_reproduces_the_elmo_fixture_top_layer(shared_data):
    """
    allennlp's `test_elmo_bilm`: `sentences.json` holds 3 lists of 10 sentences; batch `i`
    is sentence `i` of each list, and `lm_embeddings_{k}.hdf5` dataset `"{i}"` holds the
    (2, num_tokens, 16) forward/backward top-layer states of sentence `i` of list `k`,
    computed with the LSTM states carried over batches 0..9 in order.
    """
    fixture = shared_data / "elmo_fixture"
    embedder = TokenEmbedder.from_params(
        Params(
            {
                "type": "frozen_bilm",
                "pretrained_file": {
                    "options_file": str(fixture / "options.json"),
                    "weight_file": str(fixture / "lm_weights.hdf5"),
                },
                "expected_dim": 32,
            }
        )
    )
    sentence_lists = json.loads((fixture / "sentences.json").read_text())
    expected = []
    for k in range(len(sentence_lists)):
        with h5py.File(fixture / f"lm_embeddings_{k}.hdf5", "r") as embeddings:
            expected.append(
                [numpy.concatenate(list(embeddings[str(i)][...]), axis=-1) for i in range(10)]
            )
    for i in range(10):
        batch = [sentence_lists[k][i].split() for k in range(3)]
        output = embedder(**character_ids(batch)).numpy()
        for k, sentence in enumerate(batch):
            numpy.testing.assert_allclose(output[k, : len(sentence)], expected[k][i], atol=1e-5)
            assert not output[k, len(sentence) :].any()


def test_layers_and_directions(tmp_path):
    both = elmo_embedder(tmp_path, layer=1)
    top = elmo_embedder(tmp_path, layer=-1)
    forward = elmo_embedder(tmp_path, directions="forward", expected_dim=4, layer=1)
    backward = elmo_embedder(tmp_path, directions="backward", expected_dim=4, layer=1)
    token_layer = elmo_embedder(tmp_path, layer=0)
    outputs = {
        name: embedder(**character_ids())
        for name, embedder in [
            ("both", both),
            ("top", top),
            ("forward", forward),
            ("backward", backward),
            ("token_layer", token_layer),
        ]
    }
    assert outputs["both"].shape == (2, 6, 8) and both.get_output_dim() == 8
    assert outputs["forward"].shape == (2, 6, 4) and forward.get_output_dim() == 4
    assert torch.equal(outputs["both"], torch.cat([outputs["forward"], outputs["backward"]], -1))
    assert not torch.equal(outputs["both"], outputs["top"])
    assert torch.equal(outputs["token_layer"][..., :4], outputs["token_layer"][..., 4:])
    assert not outputs["both"][1, 2:].any() and outputs["both"][1, :2].abs().min() > 0


def test_built_from_params_with_the_elmo_indexer(tmp_path):
    options_file, weight_file = write_tiny_elmo(tmp_path)
    embedder = TokenEmbedder.from_params(
        Params(
            {
                "type": "frozen_bilm",
                "pretrained_file": {"options_file": options_file, "weight_file": weight_file},
                "expected_dim": 4,
                "layer": 2,
                "directions": "backward",
            }
        ),
        vocab=Vocabulary(),
    )
    assert isinstance(embedder, FrozenBiLmEmbedder)
    assert embedder.token_indexer_params() == {"type": "elmo_characters"}
    assert isinstance(embedder.token_indexer(), ELMoTokenCharactersIndexer)


def character_lm_archives(directory) -> Dict[str, str]:
    """`pretrained_file` of a tiny pair of taglm_language_models over character ids."""
    return {
        f"{direction}_archive": write_tiny_language_model(
            directory / direction, tiny_language_model_config(direction), seed=seed
        )[0]
        for seed, direction in enumerate(["forward", "backward"])
    }


@pytest.fixture(params=["elmo", "language_models"])
def pretrained_lm(request, tmp_path) -> Tuple[Dict[str, str], int]:
    """
    `pretrained_file` of a tiny ELMo-format biLM or pair of taglm_language_models, all in
    tmp_path / "lm", and the dimension of their top layer's [forward; backward] states.
    """
    if request.param == "elmo":
        options_file, weight_file = write_tiny_elmo(tmp_path / "lm")
        return {"options_file": options_file, "weight_file": weight_file}, 8
    return character_lm_archives(tmp_path / "lm"), 10


def tagger_config(pretrained_file: Dict[str, str], expected_dim: int) -> Dict[str, Any]:
    return {
        "dataset_reader": {
            "type": "sequence_tagging",
            "token_indexers": {"lm": {"type": "elmo_characters"}},
        },
        "data_loader": {"batch_size": 2},
        "model": {
            "type": "frozen_bilm_test_tagger",
            "lm_embedder": {
                "type": "frozen_bilm",
                "pretrained_file": pretrained_file,
                "expected_dim": expected_dim,
            },
        },
    }


def train_tagger(tmp_path, config: Dict[str, Any], steps: int = 3):
    data_file = tmp_path / "train.txt"
    data_file.write_text("The###D cat###N sat###V .###P\nDogs###N bark###V\n")
    reader = DatasetReader.from_params(Params(copy.deepcopy(config["dataset_reader"])))
    instances = list(reader.read(str(data_file)))
    vocab = Vocabulary.from_instances(instances)
    model = Model.from_params(vocab=vocab, params=Params(copy.deepcopy(config["model"])))
    batch = Batch(instances)
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(**tensors)["loss"].backward()
        optimizer.step()
    return model, vocab, tensors, data_file


def archive_tagger(serialization_dir, model, vocab, config: Dict[str, Any]):
    """Writes `serialization_dir/model.tar.gz` as `allennlp train` would; returns the dir."""
    vocab.save_to_files(str(serialization_dir / "vocabulary"))
    Params(copy.deepcopy(config)).to_file(str(serialization_dir / "config.json"))
    torch.save(model.state_dict(), serialization_dir / "best.th")
    archive_model(serialization_dir)
    return serialization_dir


def test_lm_stays_frozen_while_the_tagger_trains(tmp_path, pretrained_lm):
    config = tagger_config(*pretrained_lm)
    untrained, *_ = train_tagger(tmp_path, config, steps=0)
    model, *_ = train_tagger(tmp_path, config)
    embedder = model.lm_embedder
    assert model.training and model.dropout.training
    assert not any(module.training for module in embedder.bilm.modules())
    lm_parameters = dict(embedder.bilm.named_parameters())
    assert lm_parameters
    assert not any(p.requires_grad or p.grad is not None for p in lm_parameters.values())
    for name, parameter in untrained.lm_embedder.bilm.named_parameters():
        assert torch.equal(parameter, lm_parameters[name]), name
    assert not torch.equal(untrained.projection.weight, model.projection.weight)


def test_archive_predicts_and_evaluates_without_the_lm_files(
    tmp_path, monkeypatch, pretrained_lm
):
    config = tagger_config(*pretrained_lm)
    model, vocab, tensors, data_file = train_tagger(tmp_path, config)
    serialization_dir = archive_tagger(tmp_path / "run", model, vocab, config)
    (tmp_path / "lm").rename(tmp_path / "elsewhere")

    loaded = load_archive(str(serialization_dir / "model.tar.gz")).model
    assert loaded.lm_embedder.bilm is not None
    assert loaded.state_dict().keys() == model.state_dict().keys()
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name
    model.eval()
    loaded.eval()
    if isinstance(model.lm_embedder.bilm, ElmoFileBiLm):
        # Start from the fresh LSTM states of the loaded model.
        model.lm_embedder.bilm.reset_states()
    assert torch.equal(model(**tensors)["logits"], loaded(**tensors)["logits"])

    metrics_file = tmp_path / "metrics.json"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "allennlp",
            "evaluate",
            str(serialization_dir / "model.tar.gz"),
            str(data_file),
            "--output-file",
            str(metrics_file),
        ],
    )
    allennlp_main()
    assert "loss" in json.loads(metrics_file.read_text())


def test_language_model_states_of_a_sentence_do_not_depend_on_its_batch(tmp_path):
    """What makes `cache` exact: a sentence alone gets its states inside a padded batch."""
    embedder = FrozenBiLmEmbedder(expected_dim=10, pretrained_file=character_lm_archives(tmp_path))
    sentences = SENTENCES + [["A", "much", "longer", "sentence", "than", "those", "two"]]
    batch_states = embedder(**character_ids(sentences))
    for row, sentence in enumerate(sentences):
        alone = embedder(**character_ids([sentence]))
        torch.testing.assert_close(batch_states[row, : len(sentence)], alone[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_token_encoders_in_a_lower_precision(tmp_path, precision):
    """`precision`: the token encoders' rounding, float32 states, a cache of their own."""
    archives = character_lm_archives(tmp_path)
    float32 = FrozenBiLmEmbedder(expected_dim=10, pretrained_file=archives)
    lower = FrozenBiLmEmbedder(expected_dim=10, pretrained_file=archives, precision=precision)
    ids = character_ids()
    expected, states = float32(**ids), lower(**ids)
    assert states.dtype == torch.float32
    assert not torch.equal(states, expected)  # the token encoders did run in `precision`
    torch.testing.assert_close(states, expected, atol=2e-2, rtol=0)
    assert lower._fingerprint() != float32._fingerprint()
    cached = FrozenBiLmEmbedder(
        expected_dim=10, pretrained_file=archives, precision=precision,
        cache={"max_memory_mib": 1},
    )  # fmt: skip
    torch.testing.assert_close(cached(**ids), states, atol=1e-6, rtol=0)
    torch.testing.assert_close(cached(**ids), states, atol=1e-6, rtol=0)  # from the cache
    assert len(cached.state_cache) == len(SENTENCES)


def test_archive_of_a_model_trained_with_the_cache_stands_alone(tmp_path):
    archives = character_lm_archives(tmp_path / "lm")
    store = tmp_path / "lm_states"
    config = tagger_config(archives, 10)
    config["model"]["lm_embedder"]["cache"] = {"max_memory_mib": 1, "directory": str(store)}
    model, vocab, tensors, _ = train_tagger(tmp_path, config)
    assert len(model.lm_embedder.state_cache) == 2 and (store / "data.mdb").is_file()
    uncached, *_ = train_tagger(tmp_path, tagger_config(archives, 10), steps=0)
    assert model.state_dict().keys() == uncached.state_dict().keys()

    serialization_dir = archive_tagger(tmp_path / "run", model, vocab, config)
    (tmp_path / "lm").rename(tmp_path / "elsewhere")
    shutil.rmtree(store)

    loaded = load_archive(str(serialization_dir / "model.tar.gz")).model
    assert len(loaded.lm_embedder.state_cache) == 0
    model.eval()
    loaded.eval()
    torch.testing.assert_close(
        model(**tensors)["logits"], loaded(**tensors)["logits"], atol=1e-6, rtol=0
    )
    assert len(loaded.lm_embedder.state_cache) == 2


def test_lm_weights_read_from_files_are_filled_in_when_a_state_dict_leaves_them_out(
    tmp_path, pretrained_lm
):
    """What lets checkpoints leave the LM out (taglm_plugin.training.reloaded_state): built
    from its files, the embedder takes a state dict without the LM's weights and keeps its
    own; built without them (from an archive), it refuses such a state dict."""
    pretrained_file, dim = pretrained_lm
    embedder = FrozenBiLmEmbedder(expected_dim=dim, pretrained_file=pretrained_file)
    full = embedder.state_dict()
    lm_keys = [key for key in full if key.startswith("bilm.")]
    assert lm_keys and embedder.reloaded_state() == lm_keys
    assert reloaded_state_keys(torch.nn.ModuleDict({"lm": embedder})) == {
        f"lm.{key}" for key in lm_keys
    }
    without_lm = {key: tensor for key, tensor in full.items() if key not in lm_keys}
    other = FrozenBiLmEmbedder(expected_dim=dim, pretrained_file=pretrained_file)
    other.load_state_dict(without_lm)
    assert all(torch.equal(other.state_dict()[key], full[key]) for key in full)

    from_archive = FrozenBiLmEmbedder(expected_dim=dim)
    assert from_archive.reloaded_state() == []
    with pytest.raises(RuntimeError, match="Missing key"):
        from_archive.load_state_dict(without_lm)
    from_archive.load_state_dict(full)
    assert from_archive.reloaded_state() == []


def test_state_dict_of_another_lm_is_refused(tmp_path):
    embedder = elmo_embedder(tmp_path)
    one_layer = copy.deepcopy(TINY_ELMO_OPTIONS)
    one_layer["lstm"]["n_layers"] = 1
    other_options, other_weights = write_tiny_elmo(tmp_path / "other", options=one_layer)
    other = FrozenBiLmEmbedder(
        expected_dim=8,
        pretrained_file={"options_file": other_options, "weight_file": other_weights},
    )
    with pytest.raises(ConfigurationError, match="bilm_spec describes another LM"):
        embedder.load_state_dict(other.state_dict())


def test_used_before_the_lm_is_loaded():
    embedder = FrozenBiLmEmbedder(expected_dim=8)
    assert embedder.get_output_dim() == 8
    with pytest.raises(ConfigurationError, match="built without pretrained_file"):
        embedder(**character_ids())


@pytest.mark.parametrize(
    "config, problem",
    [
        ({"directions": "left"}, "directions must be one of"),
        ({"layer": 3}, r"layer = 3 is out of range: the LM has 3 layers"),
        ({"layer": -4}, r"layer = -4 is out of range"),
        (
            {"expected_dim": 16},
            r"expected_dim = 16, but layer -1 .* gives 4 \(forward\) \+ 4 \(backward\) = 8",
        ),
        ({"directions": "forward"}, r"expected_dim = 8, .* gives 4 \(forward\) = 4"),
        ({"cache": {"max_memory_mib": 1}}, "cache cannot be used with a biLM of format 'elmo'"),
        ({"precision": "int8"}, r"precision must be one of \['float32', 'bfloat16', 'float16'\]"),
        ({"precision": "bfloat16"}, "precision = 'bfloat16' needs taglm_language_model archives"),
        (
            {"pretrained_file": {"options_file": "o.json"}},
            r"pretrained_file must be .* keys \['options_file'\]",
        ),
    ],
)
def test_configuration_errors(tmp_path, config, problem):
    with pytest.raises(ConfigurationError, match=problem):
        elmo_embedder(tmp_path, **config)


def word_lm_archives(tmp_path) -> Dict[str, str]:
    return {
        f"{direction}_archive": write_tiny_language_model(
            tmp_path / direction, tiny_language_model_config(direction, "lm_words"), seed=seed
        )[0]
        for seed, direction in enumerate(["forward", "backward"])
    }


def test_word_lm_needs_its_vocabulary_in_the_tagger_vocabulary(tmp_path):
    archives = word_lm_archives(tmp_path)
    embedder = FrozenBiLmEmbedder(
        expected_dim=10, pretrained_file=archives, vocab=Vocabulary(TINY_LM_VOCABULARY)
    )
    assert embedder.token_indexer_params() == {"type": "single_id", "namespace": "lm_words"}
    tagger_vocab = Vocabulary({"lm_words": {"the": 3, "dogs": 2, "cat": 1}})
    with pytest.raises(
        ConfigurationError,
        match=r"mismatched LM vocabulary: .* namespace 'lm_words' \(7 entries\), but the "
        r"tagger's vocabulary namespace 'lm_words' has 5 entries and differs at index 3 "
        r"\('dogs' vs the LM's 'cat'\)",
    ):
        FrozenBiLmEmbedder(expected_dim=10, pretrained_file=archives, vocab=tagger_vocab)
    with pytest.raises(ConfigurationError, match="needs the tagger's vocab"):
        FrozenBiLmEmbedder(expected_dim=10, pretrained_file=archives)


def test_only_the_lms_the_directions_use_are_loaded(tmp_path):
    archives = word_lm_archives(tmp_path)
    vocab = Vocabulary(TINY_LM_VOCABULARY)
    forward = FrozenBiLmEmbedder(
        expected_dim=5, pretrained_file=archives, directions="forward", vocab=vocab
    )
    assert list(forward.bilm.language_models) == ["forward"]
    with pytest.raises(ConfigurationError, match="needs pretrained_file.backward_archive"):
        FrozenBiLmEmbedder(
            expected_dim=10,
            pretrained_file={"forward_archive": archives["forward_archive"]},
            vocab=vocab,
        )
