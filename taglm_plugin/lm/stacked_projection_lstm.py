from typing import List, Optional

import torch
from allennlp.common import FromParams
from allennlp.common.checks import ConfigurationError

from taglm_plugin.common.config_keys import ChecksConfigKeys


class StackedProjectionLstm(ChecksConfigKeys, torch.nn.Module, FromParams):
    """
    A stack of unidirectional (left-to-right) LSTM layers with a projection of each layer's
    output (the LSTMP cell of Sak et al., 2014, used by the language models of Jozefowicz et
    al., 2016 and Peters et al., 2017: "LSTM-2048-512" = 2048 hidden units projected to 512).

    Each layer is its own `torch.nn.LSTM(proj_size=...)` (cuDNN on a GPU), so every layer's
    output is available. Dropout is applied to the input of every layer during training. With
    `residual_connections`, every layer after the first adds its input to its output (the skip
    connections of ELMo's biLM).

    Sequences are padded at the end and the LSTMs read left to right, so the states at real
    positions never see padding; the outputs at padding positions are set to zero.

    # Parameters

    input_size : `int`
        Dimension of the input vectors.
    hidden_size : `int`
        LSTM cell size.
    num_layers : `int`
    projection_size : `int`, optional (default = `None`)
        Dimension each layer's output is projected to; `None` for a plain LSTM (output
        `hidden_size`).
    dropout : `float`, optional (default = `0.0`)
    residual_connections : `bool`, optional (default = `False`)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        projection_size: Optional[int] = None,
        dropout: float = 0.0,
        residual_connections: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ConfigurationError(f"encoder.num_layers must be at least 1, got {num_layers}")
        if projection_size is not None and not 0 < projection_size < hidden_size:
            raise ConfigurationError(
                f"encoder.projection_size must be between 0 and hidden_size = {hidden_size} "
                f"(exclusive), got {projection_size}"
            )
        self.input_size = input_size
        self._output_dim = projection_size or hidden_size
        self.layers = torch.nn.ModuleList(
            torch.nn.LSTM(
                input_size if index == 0 else self._output_dim,
                hidden_size,
                batch_first=True,
                proj_size=projection_size or 0,
            )
            for index in range(num_layers)
        )
        for lstm in self.layers:
            # Forget-gate bias 1 (gate order i, f, g, o), as in Jozefowicz et al. (2015).
            lstm.bias_ih_l0.data[hidden_size : 2 * hidden_size].fill_(1.0)
            lstm.bias_hh_l0.data[hidden_size : 2 * hidden_size].fill_(0.0)
        self._dropout = torch.nn.Dropout(dropout)
        self._residual_connections = residual_connections

    def get_output_dim(self) -> int:
        return self._output_dim

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def forward(self, inputs: torch.Tensor, mask: torch.BoolTensor) -> List[torch.Tensor]:
        """
        # Parameters

        inputs : `torch.Tensor`
            `(batch_size, num_steps, input_size)`.
        mask : `torch.BoolTensor`
            `(batch_size, num_steps)`, true at real positions (a prefix of every row).

        # Returns

        One `(batch_size, num_steps, output_dim)` tensor per layer, bottom first.
        """
        keep = mask.unsqueeze(-1).to(inputs.dtype)
        outputs = []
        layer_input = inputs
        for index, lstm in enumerate(self.layers):
            layer_output, _ = lstm(self._dropout(layer_input))
            if self._residual_connections and index > 0:
                layer_output = layer_output + layer_input
            layer_output = layer_output * keep
            outputs.append(layer_output)
            layer_input = layer_output
        return outputs
