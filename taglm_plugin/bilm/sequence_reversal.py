import torch


def reverse_padded_sequences(tensor: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
    """
    Reverses every sequence of a right-padded batch in time, its real elements only: row `b`
    with `n` real elements becomes `tensor[b, n-1], ..., tensor[b, 0]` followed by its padding,
    unchanged. Applying it twice gives back `tensor`.

    # Parameters

    tensor : `torch.Tensor`
        `(batch_size, num_steps, ...)`.
    mask : `torch.BoolTensor`
        `(batch_size, num_steps)`, true for the real elements, which precede the padding.

    # Returns

    A tensor of the shape and dtype of `tensor`.
    """
    lengths = mask.long().sum(dim=1, keepdim=True)
    steps = torch.arange(mask.size(1), device=mask.device).unsqueeze(0)
    # (batch_size, num_steps): where each output step reads from.
    source = torch.where(steps < lengths, lengths - 1 - steps, steps)
    source = source.view(*source.shape, *([1] * (tensor.dim() - 2))).expand_as(tensor)
    return tensor.gather(1, source)
