"""
The JSON files of a study: allennlp's (config, metrics) read, the study's own (markers,
selections, invocations, results) read and written whole or not at all.
"""
import json
from pathlib import Path
from typing import Any

from taglm_plugin.common.atomic_files import atomic_output


def read_json(path: Path) -> Any:
    """The content of the JSON file `path`."""
    return json.loads(path.read_text())


def write_json(path: Path, value: Any) -> None:
    """`value` as JSON at `path`, whole or not at all (`atomic_output`)."""
    with atomic_output(path) as output:
        output.write(json.dumps(value, indent=1) + "\n")
