import torch

from taglm_plugin.bilm.sequence_reversal import reverse_padded_sequences


def test_reverses_real_elements_and_keeps_padding_in_place():
    tensor = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0], [7, 0, 0, 0]])
    mask = tensor != 0
    assert reverse_padded_sequences(tensor, mask).tolist() == [
        [4, 3, 2, 1],
        [6, 5, 0, 0],
        [7, 0, 0, 0],
    ]


def test_feature_dimensions_move_with_their_step_and_twice_is_identity():
    tensor = torch.randn(3, 5, 2, 4)
    mask = torch.tensor([[True] * 5, [True] * 2 + [False] * 3, [False] * 5])
    reversed_tensor = reverse_padded_sequences(tensor, mask)
    assert torch.equal(reversed_tensor[0], tensor[0].flip(0))
    assert torch.equal(reversed_tensor[1, :2], tensor[1, :2].flip(0))
    assert torch.equal(reversed_tensor[1, 2:], tensor[1, 2:])
    assert torch.equal(reversed_tensor[2], tensor[2])
    assert torch.equal(reverse_padded_sequences(reversed_tensor, mask), tensor)
