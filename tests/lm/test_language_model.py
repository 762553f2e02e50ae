import copy
import math
from typing import Any, Dict, List

import numpy
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, Instance, Vocabulary
from allennlp.models import Model
from torch.utils._python_dispatch import TorchDispatchMode

from taglm_plugin.lm.language_model import LanguageModel
from taglm_plugin.lm.lm_cache_data_loader import LmCacheDataLoader
from taglm_plugin.lm.lm_text import LmTextReader
from tests.conftest import FIXTURES

WIKI_ARCHIVE = str(FIXTURES / "lm" / "enwiki_sample.tar.gz")

CHARACTER_INPUT = {
    "indexers": {"elmo": {"type": "elmo_characters"}},
    "embedder": {
        "elmo": {
            "type": "character_encoding",
            "embedding": {"num_embeddings": 262, "embedding_dim": 4},
            "encoder": {
                "type": "cnn-highway",
                "embedding_dim": 4,
                "filters": [[1, 4], [2, 4]],
                "num_highway": 1,
                "projection_dim": 8,
            },
        }
    },
}
WORD_INPUT = {
    "indexers": {"words": {"type": "single_id"}},
    "embedder": {"words": {"type": "embedding", "embedding_dim": 8}},
}


def read(
    direction: str = "forward", token_input: Dict[str, Any] = CHARACTER_INPUT
) -> List[Instance]:
    indexers = copy.deepcopy(token_input["indexers"])
    reader = LmTextReader.from_params(Params({"direction": direction, "token_indexers": indexers}))
    return list(reader.read(WIKI_ARCHIVE))


def build(
    vocab: Vocabulary, token_input: Dict[str, Any] = CHARACTER_INPUT, **model_params
) -> LanguageModel:
    params = {
        "type": "taglm_language_model",
        "text_field_embedder": {"token_embedders": token_input["embedder"]},
        "encoder": {"input_size": 8, "hidden_size": 12, "projection_size": 6, "num_layers": 2,
                    "residual_connections": True},
        "softmax": "full",
        **model_params,
    }
    return Model.from_params(vocab=vocab, params=Params(copy.deepcopy(params)))


def tensors(instances: List[Instance], vocab: Vocabulary) -> Dict[str, Any]:
    batch = Batch(instances)
    batch.index_instances(vocab)
    return batch.as_tensor_dict()


@pytest.fixture(scope="module")
def instances() -> List[Instance]:
    return read()


@pytest.fixture(scope="module")
def vocab(instances) -> Vocabulary:
    return Vocabulary.from_instances(instances)


def eval_loss(model: LanguageModel, batch: Dict[str, Any]) -> float:
    model.eval()
    with torch.no_grad():
        return model(**batch)["loss"].item()


@pytest.mark.parametrize(
    "direction, token_input",
    [("forward", CHARACTER_INPUT), ("backward", CHARACTER_INPUT), ("forward", WORD_INPUT)],
)
def test_loss_decreases_on_a_tiny_corpus(direction, token_input):
    torch.manual_seed(0)
    instances = read(direction, token_input)
    vocab = Vocabulary.from_instances(instances)
    model = build(vocab, token_input, softmax="sampled", num_samples=20, direction=direction)
    assert model.direction == direction
    batch = tensors(instances[:8], vocab)
    before = eval_loss(model, batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(30):
        optimizer.zero_grad()
        model(**batch)["loss"].backward()
        optimizer.step()
    after = eval_loss(model, batch)
    assert after < before - 1.0, (before, after)


def test_contextual_states_shapes_padding_and_no_look_ahead(vocab):
    model = build(vocab).eval()
    reader = LmTextReader()
    sentences = [["The", "lake", "is", "long", "."], ["It", "is", "fed", "."]]
    changed_end = [["The", "lake", "is", "long", "!"], sentences[1]]

    def states(batch_sentences):
        batch_instances = [reader.text_to_instance(s) for s in batch_sentences]
        for instance in batch_instances:
            reader.apply_token_indexers(instance)
        return model.contextual_states(tensors(batch_instances, vocab)["tokens"])

    layers = states(sentences)
    assert model.num_layers == len(layers) == 3
    assert [tuple(layer.shape) for layer in layers] == [(2, 5, 8), (2, 5, 6), (2, 5, 6)]
    assert model.get_output_dim() == 6
    for layer in layers:
        assert torch.all(layer[1, 4] == 0) and torch.any(layer[1, 3] != 0)
    changed = states(changed_end)
    for layer, changed_layer in zip(layers, changed):
        # Position t has read tokens 0..t only.
        assert torch.allclose(layer[:, :4], changed_layer[:, :4])
        assert not torch.allclose(layer[0, 4], changed_layer[0, 4])


def test_target_i_is_predicted_from_the_state_after_i_tokens(instances, vocab):
    model = build(vocab).eval()
    batch = tensors(instances[:1], vocab)
    with torch.no_grad():
        loss = model(**batch)["loss"].item()
        top_layer = model.contextual_states(batch["tokens"])[-1][0]
        start = model.start_of_sentence_embedding.view(1, 1, -1)
        start_state = model._encoder(start, torch.ones(1, 1, dtype=torch.bool))[-1][0]
        states = torch.cat([start_state, top_layer])  # after 0, 1, ..., n tokens
        softmax = model._softmax_loss
        log_probs = torch.log_softmax(states @ softmax.softmax_w + softmax.softmax_b, dim=-1)
        targets = batch["targets"]["lm_targets"]["tokens"][0] - 1
        expected = -log_probs.gather(1, targets.unsqueeze(1)).mean().item()
    assert len(targets) == len(instances[0]["tokens"]) + 1
    assert loss == pytest.approx(expected, rel=1e-5)


def test_forward_without_targets_gives_the_top_layer(instances, vocab):
    model = build(vocab).eval()
    batch = tensors(instances[:3], vocab)
    output = model(tokens=batch["tokens"])
    assert torch.equal(output["top_layer"], model.contextual_states(batch["tokens"])[-1])
    assert output["mask"].shape == output["top_layer"].shape[:2]


def test_perplexity_is_exp_of_the_mean_nll_over_all_tokens(instances, vocab):
    model = build(vocab).eval()
    losses, counts = [], []
    with torch.no_grad():
        for batch_instances in (instances[:2], instances[2:12]):
            output = model(**tensors(batch_instances, vocab))
            losses.append(output["loss"].item())
            counts.append(output["num_targets"].item())
    assert counts[0] != counts[1]
    token_mean = sum(loss * count for loss, count in zip(losses, counts)) / sum(counts)
    assert model.get_metrics(reset=True)["perplexity"] == pytest.approx(math.exp(token_mean))
    assert model.get_metrics()["perplexity"] == 0.0


def test_sampled_softmax_is_exact_in_evaluation(instances, vocab):
    torch.manual_seed(1)
    sampled = build(vocab, softmax="sampled", num_samples=10)
    full = build(vocab, softmax="full")
    shared = {
        name: value
        for name, value in sampled.state_dict().items()
        if not name.startswith(LanguageModel.SOFTMAX_PREFIX)
    }
    missing, _ = full.load_state_dict(shared, strict=False)
    assert all(name.startswith(LanguageModel.SOFTMAX_PREFIX) for name in missing)
    with torch.no_grad():
        full._softmax_loss.softmax_w.copy_(sampled._softmax_loss.softmax_w.t())
        full._softmax_loss.softmax_b.copy_(sampled._softmax_loss.softmax_b)
    batch = tensors(instances, vocab)
    assert eval_loss(sampled, batch) == pytest.approx(eval_loss(full, batch), rel=1e-5)
    sampled.train()
    with torch.no_grad():
        assert sampled(**batch)["loss"].item() != pytest.approx(eval_loss(full, batch))


def test_adaptive_softmax_is_normalized_in_training_too(instances, vocab):
    num_words = vocab.get_vocab_size("lm_targets") - 1
    model = build(vocab, softmax="adaptive", adaptive_cutoffs=[10])
    batch = tensors(instances, vocab)
    model.train()
    with torch.no_grad():
        training_loss = model(**batch)["loss"].item()
    assert training_loss == pytest.approx(eval_loss(model, batch), rel=1e-6)
    assert training_loss < math.log(num_words) + 1.0


def test_without_softmax_it_only_gives_states(instances, vocab):
    model = build(vocab, softmax=None)
    assert not any(name.startswith("_softmax_loss") for name, _ in model.named_parameters())
    batch = tensors(instances[:2], vocab)
    assert len(model.contextual_states(batch["tokens"])) == 3
    with pytest.raises(ConfigurationError, match="no softmax"):
        model(**batch)


def test_targets_must_have_one_more_token_than_the_sentence(instances, vocab):
    model = build(vocab)
    batch = tensors(instances[:2], vocab)
    batch["targets"]["lm_targets"]["tokens"] = batch["targets"]["lm_targets"]["tokens"][:, :-1]
    with pytest.raises(ValueError, match="one more target than tokens"):
        model(**batch)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"direction": "both"}, "model.direction"),
        ({"softmax": "hierarchical"}, "model.softmax"),
        ({"softmax": "full", "num_samples": 10}, "model.num_samples"),
        ({"softmax": "sampled"}, "model.num_samples"),
        ({"softmax": "sampled", "num_samples": 10_000}, "model.num_samples"),
        ({"softmax": "full", "adaptive_cutoffs": [10]}, "model.adaptive_cutoffs"),
        ({"softmax": "adaptive"}, "model.adaptive_cutoffs"),
        ({"softmax": "adaptive", "adaptive_cutoffs": [40, 10]}, "model.adaptive_cutoffs"),
        ({"softmax": "adaptive", "adaptive_cutoffs": [10, 40]}, "0 dimensions"),
        ({"mixed_precision": "float8"}, "model.mixed_precision"),
        ({"lstm_precision": "float16"}, "model.lstm_precision must be one of"),
        ({"softmax": "sampled", "num_samples": 10, "softmax_precision": "tf32"},
         "model.softmax_precision must be one of"),
        ({"softmax_precision": "bfloat16"}, "model.softmax_precision is only used with"),
        ({"encoder": {"input_size": 9, "hidden_size": 4, "num_layers": 1}}, "input_size"),
        ({"encoder": {"input_size": 8, "hidden_size": 4, "num_layers": 0}}, "num_layers"),
        (
            {"encoder": {"input_size": 8, "hidden_size": 4, "num_layers": 1,
                         "projection_size": 4}},
            "projection_size",
        ),
    ],
)
def test_bad_configuration_names_the_key(vocab, params, message):
    with pytest.raises(ConfigurationError, match=message):
        build(vocab, **params)


def test_empty_target_vocabulary_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="'lm_targets'.*has no words"):
        build(Vocabulary())


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_token_types_batches_give_the_same_loss_as_character_ids(tmp_path, direction):
    reader = LmTextReader(direction=direction)
    instances = list(reader.read(WIKI_ARCHIVE))
    vocab = Vocabulary.from_instances(instances)
    model = build(vocab, direction=direction)
    loader = LmCacheDataLoader(WIKI_ARCHIVE, reader, batch_size=4, cache_directory=str(tmp_path))
    loader.index_with(vocab)
    batch = loader.tensorize(numpy.arange(4))  # the first 4 sentences, in input order
    model.eval()
    with torch.no_grad():
        cached = model(**batch)
        reference = model(**tensors(instances[:4], vocab))
    torch.testing.assert_close(cached["loss"], reference["loss"])
    assert int(cached["num_targets"]) == int(reference["num_targets"])


def test_bfloat16_mixed_precision_is_close_to_float32_and_trains(instances, vocab):
    torch.manual_seed(0)
    full = build(vocab)
    mixed = build(vocab, mixed_precision="bfloat16")
    mixed.load_state_dict(full.state_dict())
    batch = tensors(instances[:8], vocab)
    assert abs(eval_loss(mixed, batch) - eval_loss(full, batch)) < 0.05 * eval_loss(full, batch)
    mixed.train()
    output = mixed(**batch)
    assert output["loss"].dtype == torch.float32
    output["loss"].backward()
    assert all(p.grad.dtype == torch.float32 for p in mixed.parameters() if p.grad is not None)


def test_float32_lstm_under_bfloat16_keeps_the_lstm_out_of_the_autocast(instances, vocab):
    torch.manual_seed(0)
    full = build(vocab)
    mixed = build(vocab, mixed_precision="bfloat16")
    lstm32 = build(vocab, mixed_precision="bfloat16", lstm_precision="float32")
    for model in (mixed, lstm32):
        model.load_state_dict(full.state_dict())
        model.eval()
    full.eval()
    batch = tensors(instances[:8], vocab)
    dtypes = {}
    for name, model in (("full", full), ("mixed", mixed), ("lstm32", lstm32)):

        def record_dtype(module, inputs, outputs, name=name) -> None:
            dtypes.setdefault(name, outputs[-1].dtype)

        model._encoder.register_forward_hook(record_dtype)
        with torch.no_grad():
            model(**batch)
    assert dtypes == {"full": torch.float32, "mixed": torch.bfloat16, "lstm32": torch.float32}
    # The token embedder still runs in bfloat16, so lstm32 is neither model.
    assert eval_loss(lstm32, batch) != eval_loss(full, batch)
    assert abs(eval_loss(lstm32, batch) - eval_loss(full, batch)) < 0.05 * eval_loss(full, batch)


def token_types_batch(tmp_path, vocab, **loader_params) -> Dict[str, Any]:
    loader = LmCacheDataLoader(
        WIKI_ARCHIVE, LmTextReader(), batch_size=6, cache_directory=str(tmp_path), **loader_params
    )
    loader.index_with(vocab)
    return loader.tensorize(numpy.arange(6))


def training_loss_and_gradients(model: LanguageModel, batch: Dict[str, Any], seed: int = 0):
    model.train()
    model.zero_grad()
    torch.manual_seed(seed)
    loss = model(**batch)["loss"]
    loss.backward()
    return loss, {name: p.grad.clone() for name, p in model.named_parameters()}


def test_padded_token_type_rows_change_neither_loss_nor_gradients(tmp_path, vocab):
    torch.manual_seed(0)
    model = build(vocab, softmax="sampled", num_samples=20)
    plain = token_types_batch(tmp_path, vocab)
    padded = token_types_batch(tmp_path, vocab, pad_types_to_multiple=64)
    assert padded["tokens"]["elmo"]["elmo_tokens"].shape[1] == 64 > (
        plain["tokens"]["elmo"]["elmo_tokens"].shape[1]
    )
    loss, gradients = training_loss_and_gradients(model, plain)
    padded_loss, padded_gradients = training_loss_and_gradients(model, padded)
    torch.testing.assert_close(padded_loss, loss)
    for name, gradient in gradients.items():
        torch.testing.assert_close(padded_gradients[name], gradient, msg=name)


class OperatorLog(TorchDispatchMode):
    """
    The aten operators run while it is active (forward or backward), as their names; indexing
    by a boolean mask (`index`, `index_put`: a `nonzero` and a host sync on a GPU) as
    `"boolean_mask_" + name`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.names: List[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        if name.startswith(("index", "_index")) and any(
            isinstance(index, torch.Tensor) and index.dtype == torch.bool for index in args[1]
        ):
            name = "boolean_mask_" + name
        self.names.append(name)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("softmax", ["sampled", "full"])
def test_training_step_has_no_boolean_indexing_and_no_host_sync_in_backward(
    tmp_path, vocab, softmax
):
    model = build(vocab, softmax=softmax, **({"num_samples": 20} if softmax == "sampled" else {}))
    model.train()
    batch = token_types_batch(tmp_path, vocab, pad_types_to_multiple=64)
    with OperatorLog() as forward_log:
        loss = model(**batch)["loss"]
    with OperatorLog() as backward_log:
        loss.backward()
    for log in (forward_log, backward_log):
        assert not [name for name in log.names if name.startswith("boolean_mask_")]
        assert not {"nonzero", "masked_select"} & set(log.names)
    # Host reads of device values: only the targets check and the metric, at the end.
    reads = [index for index, name in enumerate(forward_log.names) if name == "_local_scalar_dense"]
    assert len(reads) == 3 and reads[0] > len(forward_log.names) - 20
    assert "_local_scalar_dense" not in backward_log.names


def test_bfloat16_softmax_precision_is_close_to_float32_and_trains(instances, vocab):
    torch.manual_seed(0)
    params = {"softmax": "sampled", "num_samples": 20}
    full = build(vocab, **params)
    rounded = build(vocab, softmax_precision="bfloat16", **params)
    rounded.load_state_dict(full.state_dict())
    batch = tensors(instances[:8], vocab)
    loss, gradients = training_loss_and_gradients(full, batch)
    rounded_loss, rounded_gradients = training_loss_and_gradients(rounded, batch)
    torch.testing.assert_close(rounded_loss, loss, rtol=1e-2, atol=0)
    assert rounded_gradients["_softmax_loss.softmax_w"].dtype == torch.float32
    # Evaluation (full softmax) is float32 in both.
    assert eval_loss(rounded, batch) == eval_loss(full, batch)
