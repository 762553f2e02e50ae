from typing import List, Optional

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.modules import Seq2SeqEncoder
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from taglm_plugin.tagging.taglm_birnn import (
    TagLmBiRnnEncoder,
    _PackedAlignment,
    _StackedAlignment,
)

INPUT_SIZE = 4
LM_DIM = 3
HIDDEN_SIZES = [5, 2]
LENGTHS = [6, 2, 4]


def make_encoder(
    cell: str = "lstm",
    lm_injection_layer: Optional[int] = 1,
    hidden_sizes: List[int] = HIDDEN_SIZES,
    dropout: float = 0.0,
    dropout_mask: str = "token",
) -> TagLmBiRnnEncoder:
    torch.manual_seed(0)
    encoder = TagLmBiRnnEncoder(
        input_size=INPUT_SIZE,
        hidden_sizes=hidden_sizes,
        cell=cell,
        dropout=dropout,
        dropout_mask=dropout_mask,
        lm_dim=0 if lm_injection_layer is None else LM_DIM,
        lm_injection_layer=lm_injection_layer,
    )
    return encoder.eval()


def make_batch(lengths: List[int] = LENGTHS):
    """Inputs and LM embeddings with non-zero garbage at the padded positions."""
    generator = torch.Generator().manual_seed(1)
    max_length = max(lengths)
    inputs = torch.randn(len(lengths), max_length, INPUT_SIZE, generator=generator)
    lm_embeddings = torch.randn(len(lengths), max_length, LM_DIM, generator=generator)
    mask = torch.arange(max_length).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return inputs, mask, lm_embeddings


def record_layer_outputs(encoder: TagLmBiRnnEncoder) -> List[torch.Tensor]:
    outputs: List[torch.Tensor] = []
    for layer in encoder._layers:
        layer.register_forward_hook(lambda _module, _args, output: outputs.append(output))
    return outputs


INJECTIONS = [None, 0, 1, 2]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("lm_injection_layer", INJECTIONS)
def test_output_shape_and_dims(cell, lm_injection_layer):
    encoder = make_encoder(cell, lm_injection_layer)
    inputs, mask, lm_embeddings = make_batch()
    lm_kwargs = {} if lm_injection_layer is None else {"lm_embeddings": lm_embeddings}

    output = encoder(inputs, mask, **lm_kwargs)

    expected_dim = 2 * HIDDEN_SIZES[-1] + (LM_DIM if lm_injection_layer == 2 else 0)
    assert encoder.get_input_dim() == INPUT_SIZE
    assert encoder.get_output_dim() == expected_dim
    assert output.shape == (len(LENGTHS), max(LENGTHS), expected_dim)
    assert encoder.is_bidirectional() == (lm_injection_layer != 2)
    layer_input_sizes = [layer._module.input_size for layer in encoder._layers]
    assert layer_input_sizes == [
        INPUT_SIZE + (LM_DIM if lm_injection_layer == 0 else 0),
        2 * HIDDEN_SIZES[0] + (LM_DIM if lm_injection_layer == 1 else 0),
    ]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("lm_injection_layer", INJECTIONS)
def test_padding_does_not_change_outputs(cell, lm_injection_layer):
    encoder = make_encoder(cell, lm_injection_layer)
    inputs, mask, lm_embeddings = make_batch()
    use_lm = lm_injection_layer is not None

    batched = encoder(inputs, mask, lm_embeddings if use_lm else None)

    assert (batched[~mask] == 0).all()
    for row, length in enumerate(LENGTHS):
        alone = encoder(
            inputs[row : row + 1, :length],
            mask[row : row + 1, :length],
            lm_embeddings[row : row + 1, :length] if use_lm else None,
        )
        torch.testing.assert_close(batched[row, :length], alone[0], rtol=1e-5, atol=1e-6)


def test_an_empty_sequence_gives_zeros_and_leaves_the_others_alone():
    encoder = make_encoder("lstm", None)
    inputs, mask, _ = make_batch()
    empty = mask.clone()
    empty[1] = False
    outputs = encoder(inputs, empty)
    assert (outputs[1] == 0).all()
    torch.testing.assert_close(outputs[0], encoder(inputs, mask)[0])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("lm_injection_layer", INJECTIONS)
def test_cpu_inference_packs_the_sequences_with_the_same_outputs(cell, lm_injection_layer):
    """Without gradients on the CPU the layers run on packed sequences (`_PackedAlignment`),
    with them on the stacked batch (`_StackedAlignment`): the same outputs, an empty
    sequence's included."""
    encoder = make_encoder(cell, lm_injection_layer)
    inputs, mask, lm_embeddings = make_batch(LENGTHS + [0])
    lm = None if lm_injection_layer is None else lm_embeddings
    alignments: List[type] = []
    for layer in encoder._layers:
        layer.register_forward_pre_hook(lambda _module, args: alignments.append(type(args[1])))

    stacked = encoder(inputs, mask, lm)
    with torch.no_grad():
        packed = encoder(inputs, mask, lm)

    layers = len(encoder._layers)
    assert alignments == [_StackedAlignment] * layers + [_PackedAlignment] * layers
    torch.testing.assert_close(packed, stacked, rtol=1e-5, atol=1e-6)
    assert (packed[~mask] == 0).all()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("lm_injection_layer", [0, 1, 2])
def test_lm_embeddings_affect_only_layers_from_the_injection_point(cell, lm_injection_layer):
    encoder = make_encoder(cell, lm_injection_layer)
    inputs, mask, lm_embeddings = make_batch()
    layer_outputs = record_layer_outputs(encoder)

    output = encoder(inputs, mask, lm_embeddings)
    output_other_lm = encoder(inputs, mask, lm_embeddings + 1.0)

    first_run, second_run = layer_outputs[:2], layer_outputs[2:]
    for index in range(len(HIDDEN_SIZES)):
        if index < lm_injection_layer:
            torch.testing.assert_close(first_run[index], second_run[index])
        else:
            assert not torch.allclose(first_run[index], second_run[index])
    assert not torch.allclose(output[mask], output_other_lm[mask])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_without_lm_it_is_a_stacked_bidirectional_rnn(cell):
    """The same outputs as torch's 2-layer bidirectional RNN on packed sequences."""
    encoder = make_encoder(cell, lm_injection_layer=None, hidden_sizes=[3, 3])
    rnn_class = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    stacked = rnn_class(INPUT_SIZE, 3, num_layers=2, bidirectional=True, batch_first=True)
    with torch.no_grad():
        for index, layer in enumerate(encoder._layers):
            for name, parameter in layer._module.named_parameters():
                getattr(stacked, name.replace("_l0", f"_l{index}")).copy_(parameter)
    inputs, mask, _ = make_batch([5, 2, 4])

    output = encoder(inputs, mask)

    lengths = mask.sum(1)
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    expected = pad_packed_sequence(stacked(packed)[0], batch_first=True)[0]
    torch.testing.assert_close(output, expected)


def test_without_task_rnn_it_concatenates_inputs_and_lm_embeddings():
    encoder = make_encoder(lm_injection_layer=0, hidden_sizes=[])
    inputs, mask, lm_embeddings = make_batch()

    output = encoder(inputs, mask, lm_embeddings)

    assert encoder.get_output_dim() == INPUT_SIZE + LM_DIM
    assert not encoder.is_bidirectional()
    expected = torch.cat([inputs, lm_embeddings], dim=-1) * mask.unsqueeze(-1)
    torch.testing.assert_close(output, expected)


def record_layer_inputs(encoder: TagLmBiRnnEncoder) -> List[torch.Tensor]:
    layer_inputs: List[torch.Tensor] = []
    for layer in encoder._layers:
        layer.register_forward_pre_hook(lambda _module, args: layer_inputs.append(args[0]))
    return layer_inputs


@pytest.mark.parametrize("dropout_mask", ["token", "sentence"])
def test_dropout_applies_to_the_input_of_every_layer_including_the_lm_part(dropout_mask):
    encoder = make_encoder(lm_injection_layer=1, dropout=0.5, dropout_mask=dropout_mask).train()
    layer_inputs = record_layer_inputs(encoder)
    layer_outputs = record_layer_outputs(encoder)
    inputs, mask, lm_embeddings = make_batch()

    encoder(inputs, mask, lm_embeddings)

    undropped_inputs = [inputs, torch.cat([layer_outputs[0], lm_embeddings], dim=-1)]
    for dropped, undropped in zip(layer_inputs, undropped_inputs):
        kept = dropped != 0
        # Inverted dropout: kept values are scaled by 1 / (1 - p), the others are zero.
        torch.testing.assert_close(dropped[kept], 2 * undropped[kept])
        assert 0 < kept.float().mean() < 1
    lm_part_of_second_layer_input = layer_inputs[1][..., -LM_DIM:][mask]
    assert (lm_part_of_second_layer_input == 0).any()


def dropped_features(layer_input: torch.Tensor, mask: torch.BoolTensor) -> List[torch.Tensor]:
    """Per sentence, `(length, size)`: which features of its tokens were dropped."""
    return [sentence[keep] == 0 for sentence, keep in zip(layer_input, mask)]


def test_sentence_dropout_drops_the_same_features_of_every_token_of_a_sentence():
    torch.manual_seed(1)
    encoder = make_encoder(lm_injection_layer=1, dropout=0.5, dropout_mask="sentence").train()
    layer_inputs = record_layer_inputs(encoder)
    inputs, mask, lm_embeddings = make_batch()

    encoder(inputs, mask, lm_embeddings)

    sentence_masks = []
    for layer_input in layer_inputs:
        for dropped in dropped_features(layer_input, mask):
            assert (dropped == dropped[0]).all()
            sentence_masks.append(dropped[0])
    sentence_masks = torch.stack(sentence_masks[:len(LENGTHS)])
    assert sentence_masks.any() and not sentence_masks.all()
    assert (sentence_masks != sentence_masks[0]).any()


def test_token_dropout_drops_features_of_a_sentence_s_tokens_independently():
    encoder = make_encoder(lm_injection_layer=1, dropout=0.5, dropout_mask="token").train()
    layer_inputs = record_layer_inputs(encoder)
    inputs, mask, lm_embeddings = make_batch()

    encoder(inputs, mask, lm_embeddings)

    first_sentence = dropped_features(layer_inputs[1], mask)[0]
    assert (first_sentence != first_sentence[0]).any()


@pytest.mark.parametrize("dropout_mask", ["token", "sentence"])
def test_no_dropout_in_evaluation(dropout_mask):
    inputs, mask, lm_embeddings = make_batch()
    expected = make_encoder(dropout=0.0)(inputs, mask, lm_embeddings)
    encoder = make_encoder(dropout=0.5, dropout_mask=dropout_mask)

    torch.testing.assert_close(encoder(inputs, mask, lm_embeddings), expected)


def test_from_params():
    encoder = Seq2SeqEncoder.from_params(
        Params(
            {
                "type": "taglm_birnn",
                "input_size": INPUT_SIZE,
                "hidden_sizes": [2, 2],
                "cell": "gru",
                "lm_dim": LM_DIM,
                "lm_injection_layer": 1,
            }
        )
    )
    assert isinstance(encoder, TagLmBiRnnEncoder)
    assert encoder.lm_dim == LM_DIM
    assert encoder.get_output_dim() == 4


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"lm_injection_layer": 3}, "lm_injection_layer"),
        ({"lm_injection_layer": -1}, "lm_injection_layer"),
        ({"lm_injection_layer": None}, "lm_injection_layer"),
        ({"lm_dim": 0}, "lm_dim"),
        ({"lm_dim": -2, "lm_injection_layer": None}, "lm_dim"),
        ({"hidden_sizes": [], "lm_dim": 0, "lm_injection_layer": None}, "hidden_sizes"),
        ({"hidden_sizes": [4, 0]}, "hidden_sizes"),
        ({"cell": "rnn"}, "cell"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout_mask": "word"}, "dropout_mask"),
    ],
)
def test_bad_config_is_a_configuration_error_naming_the_key(overrides, key):
    config = {
        "input_size": INPUT_SIZE,
        "hidden_sizes": HIDDEN_SIZES,
        "lm_dim": LM_DIM,
        "lm_injection_layer": 1,
        **overrides,
    }
    with pytest.raises(ConfigurationError, match=key):
        TagLmBiRnnEncoder(**config)


def test_missing_or_mis_sized_lm_embeddings_are_an_error_naming_lm_dim():
    encoder = make_encoder(lm_injection_layer=1)
    inputs, mask, lm_embeddings = make_batch()
    with pytest.raises(ConfigurationError, match="lm_dim"):
        encoder(inputs, mask)
    with pytest.raises(ConfigurationError, match="lm_dim"):
        encoder(inputs, mask, lm_embeddings[..., :-1])

    baseline = make_encoder(lm_injection_layer=None)
    with pytest.raises(ConfigurationError, match="lm_dim"):
        baseline(inputs, mask, lm_embeddings)
