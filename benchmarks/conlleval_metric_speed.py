"""
Host time of `ConllevalF1Measure.__call__` as the tagger calls it on every training batch: 64
sentences, gold BIOUL tag ids and mask as padded `(64, longest)` tensors, the predictions as
one list of tag ids per sentence (Viterbi paths).

The sentences are synthetic but CoNLL-2003-shaped: 17 BIOUL tags (O and B/I/L/U of 4 entity
types), lengths 1..60 (mean about 15), about one entity per 8 tokens, an epoch of `--batches`
batches of 64 drawn from a fixed pool of sentences as a training set is. `--batching bucket`
(the default) groups sentences of about one length as the training configs' bucket sampler does
(lengths with 10% noise, sorted, cut into batches, batches shuffled), `random` draws them in
random order as an unbucketed loader does (more padding). In every epoch each prediction equals
the gold tags with probability `--exact` (late in training), else 1 to 3 of its tokens get a
random tag (often an invalid BIOUL sequence). Every epoch batches the same pool anew, so the
first epoch meets every sentence for the first time and the later ones meet them again. Prints
microseconds per call (mean and median) for each epoch and the counts' F1, which must not
change between implementations.

    PYTHONPATH=. python benchmarks/conlleval_metric_speed.py [--batching bucket|random] \
        [--epochs 4] [--batches 220] [--exact 0.9] [--seed 0]
"""
import argparse
import random
import statistics
import time
from typing import List, Tuple

import torch
from allennlp.data import Vocabulary

import taglm_plugin.tagging.conlleval_f1 as conlleval_f1

BATCH_SIZE = 64
MAX_LENGTH = 60
ENTITY_TYPES = ("PER", "LOC", "ORG", "MISC")
TAGS = ["O"] + [f"{letter}-{kind}" for kind in ENTITY_TYPES for letter in "BILU"]


def gold_sentence(rng: random.Random) -> List[int]:
    length = min(MAX_LENGTH, 1 + int(rng.expovariate(1 / 14)))
    tags: List[str] = []
    while len(tags) < length:
        if rng.random() < 0.12:
            kind = rng.choice(ENTITY_TYPES)
            span = min(length - len(tags), 1 + int(rng.expovariate(1 / 0.8)))
            if span == 1:
                tags.append(f"U-{kind}")
            else:
                tags += [f"B-{kind}"] + [f"I-{kind}"] * (span - 2) + [f"L-{kind}"]
        else:
            tags.append("O")
    return [TAGS.index(tag) for tag in tags]


def predicted_sentence(rng: random.Random, gold: List[int], exact: float) -> List[int]:
    guessed = list(gold)
    if rng.random() >= exact:
        for _ in range(rng.randint(1, 3)):
            guessed[rng.randrange(len(guessed))] = rng.randrange(len(TAGS))
    return guessed


def epoch_batches(
    rng: random.Random, pool: List[List[int]], bucket: bool
) -> List[List[List[int]]]:
    """The sentences of `pool` cut into batches of `BATCH_SIZE`, in the order an epoch has."""
    if bucket:
        order = sorted(pool, key=lambda gold: len(gold) * rng.uniform(0.9, 1.1))
    else:
        order = rng.sample(pool, len(pool))
    batches = [order[start : start + BATCH_SIZE] for start in range(0, len(order), BATCH_SIZE)]
    rng.shuffle(batches)
    return batches


def batch_tensors(sentences: List[List[int]]) -> Tuple[torch.Tensor, torch.Tensor]:
    """(gold_labels, mask), both of shape (batch_size, longest sentence)."""
    width = max(len(gold) for gold in sentences)
    gold_labels = torch.zeros((len(sentences), width), dtype=torch.long)
    mask = torch.zeros((len(sentences), width), dtype=torch.bool)
    for row, gold in enumerate(sentences):
        gold_labels[row, : len(gold)] = torch.tensor(gold)
        mask[row, : len(gold)] = True
    return gold_labels, mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batching", choices=("bucket", "random"), default="bucket")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batches", type=int, default=220, help="batches of 64 per epoch")
    parser.add_argument("--exact", type=float, default=0.9, help="share of exact predictions")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    pool = [gold_sentence(rng) for _ in range(args.batches * BATCH_SIZE)]
    vocabulary = Vocabulary()
    vocabulary.add_tokens_to_namespace(TAGS, "labels")
    metric = conlleval_f1.ConllevalF1Measure(vocabulary)
    lengths = [len(gold) for gold in pool]
    print(f"{conlleval_f1.__file__}")
    print(
        f"{args.batching} batches: {args.batches} of {BATCH_SIZE}; sentence length mean "
        f"{statistics.mean(lengths):.1f}, max {max(lengths)}; exact predictions {args.exact}"
    )
    for epoch in range(args.epochs):
        batches = []
        for sentences in epoch_batches(rng, pool, args.batching == "bucket"):
            guessed = [predicted_sentence(rng, gold, args.exact) for gold in sentences]
            batches.append((guessed, *batch_tensors(sentences)))
        times = []
        for guessed, gold_labels, mask in batches:
            start_time = time.perf_counter()
            metric(guessed, gold_labels, mask)
            times.append(time.perf_counter() - start_time)
        f1 = metric.get_metric(reset=True)["f1-measure-overall"]
        print(
            f"epoch {epoch + 1}: {1e6 * statistics.mean(times):7.1f} us/call mean, "
            f"{1e6 * statistics.median(times):7.1f} us/call median, "
            f"{sum(times):.3f} s/epoch; f1 {f1:.6f}"
        )


if __name__ == "__main__":
    main()
