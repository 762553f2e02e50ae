"""
Why `taglm_birnn` runs its RNNs on the padded batch, except on packed sequences in CPU
inference: times one bidirectional LSTM layer of the NER baseline's size (batch 64, up to 40
tokens, 80 -> 2 x 300) forward and forward+backward (with `--no-grad` forward only, without
gradients), over `--steps` steps after 20 warm-up steps, in four layouts:

* `packed`: torch's bidirectional LSTM on packed sequences (what allennlp's wrappers run);
* `padded`: the same LSTM on the padded batch (wrong for the backward direction of shorter
  sentences; the lower bound);
* `flipped`: two unidirectional LSTMs on the padded batch, the backward one on each sentence
  reversed within its length (`taglm_birnn` before b90dd2c; same results as `packed`);
* `stacked`: `taglm_birnn`'s GPU layout, one bidirectional call on the batch stacked with
  its right-aligned copy (same results as `packed`, `taglm_birnn`'s layout in CPU inference).

    python3 benchmarks/birnn_layouts.py [--device cpu] [--no-grad]
"""
import argparse
import time

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from taglm_plugin.bilm.sequence_reversal import reverse_padded_sequences
from taglm_plugin.tagging.taglm_birnn import _BiRnnLayer, _StackedAlignment

BATCH_SIZE, MAX_LENGTH, INPUT_SIZE, HIDDEN_SIZE = 64, 40, 80, 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--no-grad", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)
    bidirectional = torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, batch_first=True, bidirectional=True)
    forward_lstm = torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, batch_first=True)
    backward_lstm = torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, batch_first=True)
    stacked_layer = _BiRnnLayer("lstm", INPUT_SIZE, HIDDEN_SIZE)
    bidirectional, forward_lstm, backward_lstm, stacked_layer = (
        module.to(device) for module in (bidirectional, forward_lstm, backward_lstm, stacked_layer)
    )
    lengths = torch.randint(1, MAX_LENGTH + 1, (BATCH_SIZE,))
    lengths[0] = MAX_LENGTH
    inputs = torch.randn(
        BATCH_SIZE, MAX_LENGTH, INPUT_SIZE, device=device, requires_grad=not args.no_grad
    )
    mask = (torch.arange(MAX_LENGTH)[None] < lengths[:, None]).to(device)

    def packed() -> torch.Tensor:
        sequences = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
        outputs, _ = bidirectional(sequences)
        return pad_packed_sequence(outputs, batch_first=True, total_length=MAX_LENGTH)[0]

    def padded() -> torch.Tensor:
        return bidirectional(inputs)[0]

    def flipped() -> torch.Tensor:
        backward_states = backward_lstm(reverse_padded_sequences(inputs, mask))[0]
        return torch.cat(
            [forward_lstm(inputs)[0], reverse_padded_sequences(backward_states, mask)], -1
        )

    def stacked() -> torch.Tensor:
        return stacked_layer(inputs, _StackedAlignment(mask))

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    layouts = (("packed", packed), ("padded", padded), ("flipped", flipped), ("stacked", stacked))
    modes = ("fwd",) if args.no_grad else ("fwd", "fwd+bwd")
    torch.set_grad_enabled(not args.no_grad)
    for name, layer in layouts:
        for _ in range(20):
            outputs = layer()
            if not args.no_grad:
                outputs.sum().backward()
        synchronize()
        for mode in modes:
            start = time.perf_counter()
            for _ in range(args.steps):
                outputs = layer()
                if mode == "fwd+bwd":
                    outputs.sum().backward()
            synchronize()
            milliseconds = (time.perf_counter() - start) / args.steps * 1000
            print(f"{name} {mode} {milliseconds:.3f} ms")


if __name__ == "__main__":
    main()
