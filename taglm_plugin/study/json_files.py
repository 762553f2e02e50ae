"""
The JSON files of a study: allennlp's (config, metrics) read, the study's own (markers,
selections, invocations, results) read and written whole or not at all.
"""
import json
import os
from pathlib import Path
from typing import Any


def read_json(path: Path) -> Any:
    """The content of the JSON file `path`."""
    return json.loads(path.read_text())


def write_json(path: Path, value: Any) -> None:
    """`value` as JSON at `path`, whole or not at all (a partial file renamed into place)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(partial, path)
