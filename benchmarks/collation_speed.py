"""
Microseconds per batch of `VectorizedDataCollator` (and of allennlp's default collation) for
a batch of `--batch-size` sentences of about `--tokens` random words each, indexed with
`single_id`, `characters` and `elmo_characters`: the first collation of the instances by a
new collator, and the repeated collation of the same instances (as in every later epoch).

    python benchmarks/collation_speed.py [--batch-size 64] [--tokens 30] [--repeats 200]
"""
import argparse
import json
import random
import string
import timeit

from allennlp.data import Instance, Token, Vocabulary
from allennlp.data.data_loaders.data_collator import allennlp_collate
from allennlp.data.fields import TextField
from allennlp.data.token_indexers import (
    ELMoTokenCharactersIndexer,
    SingleIdTokenIndexer,
    TokenCharactersIndexer,
)

from taglm_plugin.speed.vectorized_data_collator import VectorizedDataCollator


def instances(batch_size: int, tokens: int, rng: random.Random):
    indexers = {
        "tokens": SingleIdTokenIndexer(),
        "token_characters": TokenCharactersIndexer(min_padding_length=3),
        "elmo": ELMoTokenCharactersIndexer(),
    }
    batch = []
    for _ in range(batch_size):
        words = [
            "".join(rng.choices(string.ascii_letters, k=rng.randint(1, 12)))
            for _ in range(rng.randint(tokens // 2, tokens * 3 // 2))
        ]
        batch.append(Instance({"text": TextField([Token(w) for w in words], indexers)}))
    vocab = Vocabulary.from_instances(batch)
    for instance in batch:
        instance.index_fields(vocab)
    return batch


def microseconds(function, repeats: int) -> float:
    return min(timeit.repeat(function, number=1, repeat=repeats)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    batch = instances(args.batch_size, args.tokens, random.Random(0))
    collate = VectorizedDataCollator()
    collate(batch)
    results = {
        "first_us": microseconds(lambda: VectorizedDataCollator()(batch), args.repeats),
        "repeated_us": microseconds(lambda: collate(batch), args.repeats),
        "allennlp_collate_us": microseconds(lambda: allennlp_collate(batch), 20),
    }
    print(json.dumps({key: round(value, 1) for key, value in results.items()}))


if __name__ == "__main__":
    main()
