"""
Writes the encoder-only archive (no softmax) of a trained `taglm_language_model`
(`taglm_plugin.lm.encoder_export`):

    python -m taglm_plugin.commands.export_lm runs/lm/forward/model.tar.gz \\
        runs/lm/forward/encoder.tar.gz [--half] [--max-mib 16]
"""
import argparse
import logging
import sys
from typing import List, Optional

from taglm_plugin.lm.encoder_export import export_encoder_archive


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m taglm_plugin.commands.export_lm",
        description="Write the encoder-only archive (no softmax) of a taglm_language_model.",
    )
    parser.add_argument("archive", help="model.tar.gz of a trained taglm_language_model")
    parser.add_argument("output", help="path of the encoder-only archive to write")
    parser.add_argument("--half", action="store_true", help="store the weights as float16")
    parser.add_argument(
        "--max-mib", type=float, default=None, help="fail if the output is larger (MiB)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    size = export_encoder_archive(args.archive, args.output, args.half, args.max_mib)
    print(f"{args.output}: {size} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
