"""
Building the LM token cache (`LmTokenCache.build`, what the `taglm_lm_cache` loader does once
per text) with one tokenizing process and with `--processes`, side by side on the same text:
seconds, tokens/s and the ratio; the two caches are checked equal. Then the LM's vocabulary
(the training split, 50k words) by allennlp's `from_instances` over the loader's instances and
by `taglm_lm_token_cache` from the cache that the loader holds (as in `allennlp train`, not read
again): seconds and the ratio; the two are checked equal.

    python benchmarks/lm_token_cache_speed.py TEXT [--processes 0] [--output results.json]

TEXT is what `LM_TRAIN_DATA` takes (a file, an archive, a glob); `--processes 0` is one per CPU
core.
"""
import argparse
import json
import tempfile
import time

import numpy
from allennlp.common import Params
from allennlp.data import DataLoader, DatasetReader, Vocabulary

import taglm_plugin  # noqa: F401  (registers the readers, loaders and vocabularies)
from taglm_plugin.common.cpu_cores import cpu_cores
from taglm_plugin.lm.lm_text import LmTextReader
from taglm_plugin.lm.lm_token_cache import LmTokenCache


def timed_build(text: str, processes: int) -> tuple:
    start = time.perf_counter()
    cache = LmTokenCache.build(LmTextReader(), text, processes)
    return cache, time.perf_counter() - start


def vocabulary_speed(text: str, processes: int) -> dict:
    reader_params = {"type": "taglm_lm_text", "held_out_every": 100, "split": "train",
                     "max_sentence_length": 100}  # fmt: skip
    sizes = {"max_vocab_size": {"lm_targets": 50000}}
    with tempfile.TemporaryDirectory() as cache_directory:
        loader = DataLoader.from_params(
            Params({"type": "taglm_lm_cache", "batch_size": 128, "tokenizing_processes": processes,
                    "cache_directory": cache_directory}),
            reader=DatasetReader.from_params(Params(dict(reader_params))),
            data_path=text,
        )  # fmt: skip
        start = time.perf_counter()
        instances = Vocabulary.from_instances(loader.iter_instances(), **sizes)
        instances_seconds = time.perf_counter() - start
        start = time.perf_counter()
        cached = Vocabulary.from_params(
            Params({"type": "taglm_lm_token_cache", "data_path": text, **sizes,
                    "dataset_reader": reader_params, "cache_directory": cache_directory})
        )  # fmt: skip
        cache_seconds = time.perf_counter() - start
    assert cached.get_token_to_index_vocabulary("lm_targets") == (
        instances.get_token_to_index_vocabulary("lm_targets")
    )
    return {
        "from_instances_seconds": instances_seconds,
        "taglm_lm_token_cache_seconds": cache_seconds,
        "ratio": instances_seconds / cache_seconds,
        "equal": True,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("text")
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--output")
    args = parser.parse_args()
    processes = args.processes or cpu_cores()

    serial, serial_seconds = timed_build(args.text, 1)
    parallel, parallel_seconds = timed_build(args.text, processes)
    assert parallel.types == serial.types
    for name in ("token_types", "sentence_starts", "sentence_documents"):
        numpy.testing.assert_array_equal(getattr(parallel, name), getattr(serial, name))
    tokens = len(serial.token_types)
    result = {
        "text": args.text,
        "cpu_cores": cpu_cores(),
        "tokens": tokens,
        "sentences": serial.num_sentences,
        "one_process": {"seconds": serial_seconds, "tokens_per_second": tokens / serial_seconds},
        f"{processes}_processes": {
            "seconds": parallel_seconds,
            "tokens_per_second": tokens / parallel_seconds,
        },
        "ratio": serial_seconds / parallel_seconds,
        "equal": True,
    }
    result["vocabulary"] = vocabulary_speed(args.text, processes)
    print(json.dumps(result, indent=1))
    if args.output:
        with open(args.output, "w") as output:
            json.dump(result, output, indent=1)


if __name__ == "__main__":
    main()
