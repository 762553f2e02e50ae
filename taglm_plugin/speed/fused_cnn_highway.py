import torch
from allennlp.modules.seq2vec_encoders.cnn_highway_encoder import CnnHighwayEncoder
from allennlp.modules.seq2vec_encoders.seq2vec_encoder import Seq2VecEncoder

from taglm_plugin.common.config_keys import ChecksConfigKeys


@Seq2VecEncoder.register("taglm_fused_cnn_highway")
class FusedCnnHighwayEncoder(ChecksConfigKeys, CnnHighwayEncoder):
    """
    allennlp's `cnn-highway` encoder (the character CNN + highway layers of Kim et al., 2016,
    and of ELMo's biLM: the token encoder of this project's LMs) with its convolutions of every
    width computed as one matrix product in the `(batch, position, channel)` layout.

    allennlp runs one `Conv1d` per filter width on the transposed embeddings, each followed
    by a max over positions; on a GPU each convolution converts its operands between layouts,
    and the maxima are reductions over the innermost, short dimension. Here every position's
    window of the widest filter's width (the characters after the end read as zeros) is
    multiplied once by all filters, a narrower filter's weights padded with zeros to that
    width, and each filter's maximum is taken over the positions where allennlp's
    convolution has an output (`num_characters - width + 1` of them; the others masked), along
    the middle dimension. The products of the padded weights add zeros: about 30% more
    multiply-adds for the `paper` preset's widths 1-7, in one large product instead of seven
    (on one CPU thread, 512 tokens of that preset, forward and backward: about 1.2-1.3x
    allennlp's time; it is meant for the GPU, where the layouts and the reductions cost).

    Same parameters, parameter names and initialization as `CnnHighwayEncoder` (archives load
    into either); the same outputs and gradients up to float rounding. As in allennlp's, each
    maximum's gradient goes to one of its positions (which one, where several positions tie,
    may differ), and only the maxima's positions are kept for the backward pass, not the
    convolutions' outputs.

    Input `(batch_size, num_characters, embedding_dim)`, output `(batch_size,
    projection_dim)`, as allennlp's.

    Registered as a `Seq2VecEncoder` with name "taglm_fused_cnn_highway".
    """

    def forward(self, inputs: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
        widths = [conv.kernel_size[0] for conv in self._convolutions]
        max_width = max(widths)
        num_characters = inputs.size(1)
        if num_characters < max_width:  # allennlp's error: a filter wider than the input
            return super().forward(inputs, mask)
        # (batch, num_characters + max_width - 1, dim) -> (batch, num_characters, dim, max_width)
        windows = torch.nn.functional.pad(inputs, (0, 0, 0, max_width - 1)).unfold(1, max_width, 1)
        weight = torch.cat(
            [
                torch.nn.functional.pad(conv.weight, (0, max_width - conv.kernel_size[0]))
                for conv in self._convolutions
            ]
        )  # (num_filters, dim, max_width), the order of `windows`' last two dimensions
        bias = torch.cat([conv.bias for conv in self._convolutions])
        convolved = torch.nn.functional.linear(
            windows.flatten(2), weight.flatten(1), bias
        )  # (batch, num_characters, num_filters)
        # A filter of width w has outputs at the first `num_characters - w + 1` positions: the
        # others are masked out of its maximum (one pass over `convolved`: a slice per width
        # would have the backward pass write a zero-filled copy of it per width).
        filter_widths = torch.cat(
            [
                torch.full((conv.out_channels,), conv.kernel_size[0], device=inputs.device)
                for conv in self._convolutions
            ]
        )
        positions = torch.arange(num_characters, device=inputs.device).unsqueeze(1)
        outside = positions > num_characters - filter_widths  # (num_characters, num_filters)
        maxima = convolved.masked_fill(outside, float("-inf")).max(dim=1).values
        token_embedding = self._activation(maxima)
        if self._projection_location == "after_cnn":
            token_embedding = self._projection(token_embedding)
        token_embedding = self._highways(token_embedding)
        if self._projection_location == "after_highway":
            token_embedding = self._projection(token_embedding)
        return self._layer_norm(token_embedding)
