"""
The encoder-only archive of an LM snapshot (`taglm_plugin.study.lm_snapshots`), as the final
LM's (`taglm_plugin.commands.export_lm`): the LM's serialization directory is archived with the
snapshot's weights (allennlp's `archive_model`: its `config.json` and `vocabulary/`) into a
temporary `model.tar.gz`, whose encoder `taglm_plugin.lm.encoder_export` exports.

    python -m taglm_plugin.study.export_snapshot runs/lm/forward \\
        runs/lm/forward/snapshot@lm0.5.th runs/lm/forward/encoder@lm0.5.tar.gz
"""
import argparse
import logging
import os
import sys
import tempfile
from typing import List

from allennlp.models.archival import archive_model

from taglm_plugin.lm.encoder_export import export_encoder_archive


def export_snapshot(serialization_dir: str, weights: str, output: str) -> int:
    """Writes the encoder-only archive of the LM trained in `serialization_dir` with the
    weights `weights` (a state dict file) to `output`; returns its size in bytes."""
    with tempfile.TemporaryDirectory() as directory:
        archive = archive_model(
            serialization_dir, weights=weights, archive_path=os.path.join(directory, "lm.tar.gz")
        )
        return export_encoder_archive(archive, output)


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m taglm_plugin.study.export_snapshot",
        description="Write the encoder-only archive of an LM snapshot.",
    )
    parser.add_argument("serialization_dir", help="the LM's allennlp train directory")
    parser.add_argument("weights", help="the snapshot's weights (snapshot@lmF.th)")
    parser.add_argument("output", help="path of the encoder-only archive to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    size = export_snapshot(args.serialization_dir, args.weights, args.output)
    print(f"{args.output}: {size} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
