"""
Prints the entities of `allennlp predict --predictor taglm_tagger` output, one sentence per
block, e.g.

    Angela Merkel met Emmanuel Macron in Paris .
      PER   Angela Merkel   (chars 0-13)

Usage: python -m taglm_plugin.commands.show_entities PREDICTIONS.jsonl
"""
import json
import sys
from typing import Dict, List, TextIO


def format_prediction(prediction: Dict) -> List[str]:
    lines = [" ".join(prediction["tokens"])]
    if not prediction["spans"]:
        lines.append("  (no entities)")
    for span in prediction["spans"]:
        lines.append(
            f"  {span['type']:<5} {span['text']}   "
            f"(chars {span['char_start']}-{span['char_end']})"
        )
    return lines


def show_entities(path: str, out: TextIO = sys.stdout) -> None:
    with open(path, encoding="utf-8") as predictions:
        for line in predictions:
            if line.strip():
                out.write("\n".join(format_prediction(json.loads(line))) + "\n\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    show_entities(sys.argv[1])
