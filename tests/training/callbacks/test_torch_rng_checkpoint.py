import io

import torch

from taglm_plugin.training.callbacks.torch_rng_checkpoint import TorchRngCheckpointCallback


def test_restoring_the_state_repeats_the_random_numbers_drawn_after_it(tmp_path):
    callback = TorchRngCheckpointCallback(str(tmp_path))
    torch.manual_seed(0)
    torch.rand(5)
    state = callback.state_dict()
    expected = torch.rand(10)
    torch.rand(3)  # the generator moves on, as in a restarted process reseeded from the config

    callback.load_state_dict(state)

    assert torch.equal(torch.rand(10), expected)


def test_the_state_survives_weights_only_loading(tmp_path):
    # allennlp's checkpointer saves callback states with torch.save and --recover reads them
    # with torch.load, whose default is weights_only=True on torch >= 2.6.
    callback = TorchRngCheckpointCallback(str(tmp_path))
    buffer = io.BytesIO()
    torch.save({"callbacks": [callback.state_dict()]}, buffer)
    buffer.seek(0)
    expected = torch.rand(4)
    loaded = torch.load(buffer, weights_only=True)

    callback.load_state_dict(loaded["callbacks"][0])

    assert torch.equal(torch.rand(4), expected)
