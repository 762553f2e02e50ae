"""
Building the LM token cache (`LmTokenCache.build`, what the `taglm_lm_cache` loader does once
per text) with one tokenizing process and with `--processes`, side by side on the same text:
seconds, tokens/s and the ratio; the two caches are checked equal.

    python benchmarks/lm_token_cache_speed.py TEXT [--processes 0] [--output results.json]

TEXT is what `LM_TRAIN_DATA` takes (a file, an archive, a glob); `--processes 0` is one per CPU
core.
"""
import argparse
import json
import time

import numpy

from taglm_plugin.common.cpu_cores import cpu_cores
from taglm_plugin.lm.lm_text import LmTextReader
from taglm_plugin.lm.lm_token_cache import LmTokenCache


def timed_build(text: str, processes: int) -> tuple:
    start = time.perf_counter()
    cache = LmTokenCache.build(LmTextReader(), text, processes)
    return cache, time.perf_counter() - start


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
    print(json.dumps(result, indent=1))
    if args.output:
        with open(args.output, "w") as output:
            json.dump(result, output, indent=1)


if __name__ == "__main__":
    main()
