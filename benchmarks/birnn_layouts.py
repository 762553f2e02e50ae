"""
Why `taglm_birnn` runs each direction on the padded batch: times one bidirectional LSTM layer
of the NER baseline's size (batch 64, up to 40 tokens, 80 -> 2 x 300) forward and
forward+backward, over 200 steps after 20 warm-up steps, in three layouts:

* `packed`: torch's bidirectional LSTM on packed sequences (what allennlp's wrappers run);
* `padded`: the same LSTM on the padded batch (wrong for the backward direction of shorter
  sentences; the lower bound);
* `flipped`: two unidirectional LSTMs on the padded batch, the backward one on each sentence
  reversed within its length (what `taglm_birnn` runs; same results as `packed`).

    python3 benchmarks/birnn_layouts.py   # on a GPU
"""
import time

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

BATCH_SIZE, MAX_LENGTH, INPUT_SIZE, HIDDEN_SIZE = 64, 40, 80, 300


def main() -> None:
    torch.manual_seed(0)
    device = "cuda"
    bidirectional = torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, batch_first=True, bidirectional=True)
    forward_lstm = torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, batch_first=True)
    backward_lstm = torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, batch_first=True)
    bidirectional, forward_lstm, backward_lstm = (
        module.to(device) for module in (bidirectional, forward_lstm, backward_lstm)
    )
    lengths = torch.randint(1, MAX_LENGTH + 1, (BATCH_SIZE,))
    lengths[0] = MAX_LENGTH
    inputs = torch.randn(BATCH_SIZE, MAX_LENGTH, INPUT_SIZE, device=device, requires_grad=True)
    mask = (torch.arange(MAX_LENGTH)[None] < lengths[:, None]).to(device)

    def packed() -> torch.Tensor:
        sequences = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
        outputs, _ = bidirectional(sequences)
        return pad_packed_sequence(outputs, batch_first=True, total_length=MAX_LENGTH)[0]

    def padded() -> torch.Tensor:
        return bidirectional(inputs)[0]

    def flipped() -> torch.Tensor:
        positions = torch.arange(MAX_LENGTH, device=device)[None]
        sentence_lengths = mask.sum(1, keepdim=True)
        reversal = torch.where(
            positions < sentence_lengths, sentence_lengths - 1 - positions, positions
        )
        reversed_inputs = inputs.gather(1, reversal[..., None].expand(-1, -1, INPUT_SIZE))
        backward_states = backward_lstm(reversed_inputs)[0]
        backward_states = backward_states.gather(
            1, reversal[..., None].expand(-1, -1, HIDDEN_SIZE)
        )
        return torch.cat([forward_lstm(inputs)[0], backward_states], -1)

    for name, layer in (("packed", packed), ("padded", padded), ("flipped", flipped)):
        for _ in range(20):
            layer().sum().backward()
        torch.cuda.synchronize()
        for mode in ("fwd", "fwd+bwd"):
            start = time.perf_counter()
            for _ in range(200):
                outputs = layer()
                if mode == "fwd+bwd":
                    outputs.sum().backward()
            torch.cuda.synchronize()
            print(f"{name} {mode} {(time.perf_counter() - start) / 200 * 1000:.3f} ms")


if __name__ == "__main__":
    main()
