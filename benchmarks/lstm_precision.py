"""
How far the LM's LSTM (the encoder of training_configs/lm at `--size`: `StackedProjectionLstm`,
one `torch.nn.LSTM(proj_size=...)` per layer, cuDNN on a GPU) computes from float32 under
autocast, per autocast dtype: the relative error of its outputs and of its parameters'
gradients, and the share of gradient entries that are zero under autocast but not in float32
(underflow), for upstream gradients of several scales.

bfloat16 keeps float32's exponent range, so its share of underflowed entries should stay near
zero at every scale; float16's grows as the scale falls below its range (no loss scaling, as
`mixed_precision: "bfloat16"` trains). A bfloat16 row that looks like the float16 row says the
kernels compute in float16.

    python benchmarks/lstm_precision.py [--device cuda] [--size paper|budget]
        [--batch-size 64] [--num-tokens 20] [--dtypes bfloat16,float16]
        [--scales 1,1e-4,1e-6,1e-8] [--output result.json]

Prints one JSON object.
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

import torch
from allennlp.common import Params

import taglm_plugin  # noqa: F401  (sets the configs' defaults)
from taglm_plugin.lm.stacked_projection_lstm import StackedProjectionLstm

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = ("paper", "budget", "small")
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def config_lstm(size: str) -> StackedProjectionLstm:
    """The encoder of the `size` LM preset's config, without dropout."""
    os.environ["LM_SIZE"] = size
    config_file = os.path.join(REPO_ROOT, "training_configs", "lm", "forward.jsonnet")
    encoder = Params.from_file(config_file).as_dict(quiet=True)["model"]["encoder"]
    return StackedProjectionLstm(**dict(encoder, dropout=0.0))


def outputs_and_gradients(
    lstm: StackedProjectionLstm,
    inputs: torch.Tensor,
    upstream: List[torch.Tensor],
    dtype: Optional[torch.dtype],
) -> Dict[str, torch.Tensor]:
    """The top layer's output and every parameter's gradient (float32 copies) for `upstream`,
    the gradients of the layers' outputs, under autocast of `dtype` (None: float32)."""
    lstm.zero_grad()
    mask = torch.ones(inputs.shape[:2], dtype=torch.bool, device=inputs.device)
    autocast = torch.autocast(
        inputs.device.type, dtype=dtype or torch.float32, enabled=dtype is not None
    )
    with autocast:
        outputs = lstm(inputs, mask)
    torch.autograd.backward(outputs, upstream)
    result = {"output": outputs[-1].detach().float()}
    for name, parameter in lstm.named_parameters():
        result[name] = parameter.grad.detach().float().clone()
    return result


def compare(reference: Dict[str, torch.Tensor], other: Dict[str, torch.Tensor]) -> Dict[str, Any]:
    """Relative errors (norm of the difference / norm of the reference) and underflow share."""
    gradients = [name for name in reference if name != "output"]
    flat_reference = torch.cat([reference[name].flatten() for name in gradients])
    flat_other = torch.cat([other[name].flatten() for name in gradients])
    nonzero = flat_reference != 0
    return {
        "output_relative_error": float(
            (other["output"] - reference["output"]).norm() / reference["output"].norm()
        ),
        "gradient_relative_error": float(
            (flat_other - flat_reference).norm() / flat_reference.norm()
        ),
        "gradient_underflow_share": float(
            ((flat_other == 0) & nonzero).sum() / nonzero.sum().clamp(min=1)
        ),
    }


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", default="paper", choices=SIZES)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-tokens", type=int, default=20)
    parser.add_argument("--dtypes", default="bfloat16,float16")
    parser.add_argument("--scales", default="1,1e-4,1e-6,1e-8")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    dtypes = args.dtypes.split(",")
    for name in dtypes:
        if name not in DTYPES:
            parser.error(f"--dtypes: {name!r} is not one of {sorted(DTYPES)}")
    device = torch.device(args.device)
    # A float32 reference, not TF32 (which cuDNN and cuBLAS may use for float32 by default).
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(args.seed)
    lstm = config_lstm(args.size).to(device)
    inputs = torch.randn(args.batch_size, args.num_tokens, lstm.input_size, device=device)
    upstream = [
        torch.randn(args.batch_size, args.num_tokens, lstm.get_output_dim(), device=device)
        for _ in lstm.layers
    ]
    result: Dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "size": args.size,
        "batch_size": args.batch_size,
        "num_tokens": args.num_tokens,
        "by_scale": {},
    }
    for scale in args.scales.split(","):
        scaled = [gradient * float(scale) for gradient in upstream]
        reference = outputs_and_gradients(lstm, inputs, scaled, None)
        result["by_scale"][scale] = {
            name: compare(reference, outputs_and_gradients(lstm, inputs, scaled, DTYPES[name]))
            for name in dtypes
        }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as output:
            output.write(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
