import pytest
import torch
from allennlp.common import Params
from allennlp.modules.seq2vec_encoders import Seq2VecEncoder
from allennlp.modules.seq2vec_encoders.cnn_highway_encoder import CnnHighwayEncoder
from allennlp.modules.token_embedders import TokenCharactersEncoder

from taglm_plugin.common.config_keys import UnknownConfigKeyError
from taglm_plugin.speed.fused_cnn_highway import FusedCnnHighwayEncoder

# The `paper` LM preset's filters (training_configs/lm/language_model.libsonnet), fewer of each.
FILTERS = [[1, 4], [2, 4], [3, 8], [4, 8], [5, 16], [6, 16], [7, 32]]


def encoders(projection_location="after_highway", filters=FILTERS, embedding_dim=16):
    """allennlp's encoder and the fused one with the same weights."""
    torch.manual_seed(0)
    config = dict(
        embedding_dim=embedding_dim,
        filters=filters,
        num_highway=2,
        projection_dim=12,
        projection_location=projection_location,
    )
    plain = CnnHighwayEncoder(**config)
    fused = FusedCnnHighwayEncoder(**config)
    with torch.no_grad():  # allennlp's biases start at zero: make them count
        for conv in plain._convolutions:
            conv.bias.uniform_(-0.05, 0.05)
    fused.load_state_dict(plain.state_dict())
    return plain, fused


def gradients(module):
    """The parameters' gradients by name (None for one the output does not use)."""
    return {name: parameter.grad for name, parameter in module.named_parameters()}


def assert_same_gradients(actual, expected, tolerance):
    assert actual.keys() == expected.keys()
    for name, gradient in actual.items():
        if expected[name] is None:
            assert gradient is None, name
        else:
            torch.testing.assert_close(gradient, expected[name], rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("projection_location", ["after_highway", "after_cnn", None])
@pytest.mark.parametrize("num_characters", [7, 50])
def test_outputs_and_gradients_are_allennlps(projection_location, num_characters):
    plain, fused = encoders(projection_location)
    inputs = torch.randn(5, num_characters, 16)
    mask = torch.ones(5, num_characters, dtype=torch.bool)
    plain_inputs = inputs.clone().requires_grad_()
    fused_inputs = inputs.clone().requires_grad_()
    expected = plain(plain_inputs, mask)
    actual = fused(fused_inputs, mask)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)
    upstream = torch.randn_like(expected)
    (expected * upstream).sum().backward()
    (actual * upstream).sum().backward()
    torch.testing.assert_close(fused_inputs.grad, plain_inputs.grad, rtol=1e-5, atol=1e-6)
    assert_same_gradients(gradients(fused), gradients(plain), 1e-5)


def test_character_padding_gives_allennlps_weight_gradients():
    """Tokens padded with one character id: maxima tied over the padded windows."""
    plain, fused = encoders()
    characters = torch.randint(1, 30, (6, 50))
    characters[:, 9:] = 0  # padding, as the character indexers pad
    characters[0, 3:] = 0
    results = []
    for encoder in (plain, fused):
        torch.manual_seed(1)
        embedding = torch.nn.Embedding(30, 16)
        token_encoder = TokenCharactersEncoder(embedding, encoder)
        output = token_encoder(characters.unsqueeze(0))
        output.pow(2).sum().backward()
        results.append((output, embedding.weight.grad, gradients(encoder)))
    (expected, expected_embedding_gradient, expected_gradients), actual_results = results
    actual, embedding_gradient, actual_gradients = actual_results
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        embedding_gradient, expected_embedding_gradient, rtol=1e-5, atol=1e-5
    )
    assert_same_gradients(actual_gradients, expected_gradients, 1e-5)


def test_no_tokens_give_no_encodings():
    plain, fused = encoders()
    inputs, mask = torch.randn(0, 50, 16), torch.ones(0, 50, dtype=torch.bool)
    assert fused(inputs, mask).shape == plain(inputs, mask).shape == (0, 12)


def test_inputs_narrower_than_a_filter_fail_as_allennlps():
    plain, fused = encoders()
    inputs, mask = torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.bool)
    with pytest.raises(RuntimeError) as expected:
        plain(inputs, mask)
    with pytest.raises(RuntimeError) as actual:
        fused(inputs, mask)
    assert str(actual.value) == str(expected.value)


def test_registered_with_allennlps_parameters_and_names():
    params = Params(
        {
            "type": "taglm_fused_cnn_highway",
            "embedding_dim": 4,
            "filters": [[1, 2], [3, 2]],
            "num_highway": 1,
            "projection_dim": 3,
        }
    )
    encoder = Seq2VecEncoder.from_params(params.duplicate())
    assert isinstance(encoder, FusedCnnHighwayEncoder)
    params["num_highways"] = 1  # misspelt
    with pytest.raises(UnknownConfigKeyError, match="num_highways"):
        Seq2VecEncoder.from_params(params)
    plain = CnnHighwayEncoder(4, [[1, 2], [3, 2]], 1, 3)
    assert {name: p.shape for name, p in encoder.state_dict().items()} == {
        name: p.shape for name, p in plain.state_dict().items()
    }
