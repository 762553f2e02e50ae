import hashlib
from typing import Dict

import torch


def state_dict_fingerprint(state_dict: Dict[str, torch.Tensor], *details: str) -> str:
    """
    A SHA-256 hex digest of every tensor of `state_dict` (name, dtype, shape and bytes) and of
    `details`: two LMs get the same fingerprint only if they compute the same states (the LM
    state cache's key), two tensors only if they are equal.
    """
    digest = hashlib.sha256()
    for detail in details:
        digest.update(detail.encode() + b"\0")
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
