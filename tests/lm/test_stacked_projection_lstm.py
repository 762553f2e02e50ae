import torch

from taglm_plugin.lm.stacked_projection_lstm import StackedProjectionLstm


def test_every_layer_output_projected_zero_at_padding():
    torch.manual_seed(0)
    encoder = StackedProjectionLstm(5, hidden_size=8, num_layers=3, projection_size=4)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    outputs = encoder(torch.randn(2, 3, 5), mask)
    assert encoder.num_layers == 3 and encoder.get_output_dim() == 4
    assert [tuple(output.shape) for output in outputs] == [(2, 3, 4)] * 3
    for output in outputs:
        assert torch.all(output[1, 1:] == 0) and torch.all(output[0] != 0)


def test_residual_connections_add_the_input_of_every_layer_after_the_first():
    torch.manual_seed(0)
    encoder = StackedProjectionLstm(
        5, hidden_size=8, num_layers=2, projection_size=4, residual_connections=True
    ).eval()
    inputs, mask = torch.randn(1, 3, 5), torch.ones(1, 3, dtype=torch.bool)
    first, second = encoder(inputs, mask)
    assert torch.allclose(first, encoder.layers[0](inputs)[0])
    assert torch.allclose(second, encoder.layers[1](first)[0] + first)


def test_plain_lstm_without_projection_and_forget_bias_one():
    encoder = StackedProjectionLstm(5, hidden_size=8, num_layers=1)
    assert encoder.get_output_dim() == 8
    lstm = encoder.layers[0]
    forget_bias = lstm.bias_ih_l0[8:16] + lstm.bias_hh_l0[8:16]
    assert torch.all(forget_bias == 1.0)
