"""
`allennlp predict` on a JSON-lines file: errors that name the file and line, and an output
file that is complete or not written at all.

allennlp 2.10's `predict` command (`allennlp.commands.predict._PredictManager`) reads the
input lines without counting them, so a line that is not JSON fails with `json.loads`'s
message about "line 1 column 1" of that line alone, and a predictor's error for a bad input
does not say where the input is. It opens `--output-file` before the first prediction and
writes each batch's predictions as they come, so an error leaves a partial file (and an
earlier file of that name truncated). `apply()`, called when the plugin is imported (so by
every `allennlp` command run with it), makes the command use `LineNumberedPredictManager`
instead, whatever the predictor.
"""
import json
import os
import sys
from typing import Iterator, List, Optional, Tuple

from allennlp.commands import predict
from allennlp.common.file_utils import cached_path, open_compressed
from allennlp.predictors.predictor import JsonDict, Predictor

from taglm_plugin.common.atomic_files import atomic_output
from taglm_plugin.common.file_errors import DataFileError
from taglm_plugin.tagging.taglm_tagger_predictor import BadInputError


class LineNumberedPredictManager(predict._PredictManager):
    """
    allennlp's `_PredictManager` (the arguments and the outputs of `allennlp predict`), with:

    * errors that name the input (its path, or `<stdin>` for `-`) and line (counting blank
      lines, which are skipped): a `DataFileError` for a line that is not valid UTF-8 or not
      valid JSON, or for an input the `taglm_tagger` predictor rejects (`BadInputError`:
      not an object, neither or both of `"sentence"` and `"tokens"`, a value of the wrong
      type or without tokens); any other error of a batch's prediction gets a note naming
      the batch's lines.
    * an output file that is complete or absent: the predictions go to a hidden temporary
      file in the output's directory (`.NAME.XXXXXXXX.partial`), which replaces `--output-file`
      only after the last prediction; on an error it is deleted, and a file already at the
      output path is left as it was. (A run killed outright leaves the temporary file.) An
      output path that exists and is not a regular file (`/dev/stdout`, a pipe) is written as
      the predictions come.

    With `--use-dataset-reader` the instances come from the dataset reader, whose errors name
    the file and line themselves (`taglm_conll`); the output is complete or absent as above.
    """

    def __init__(
        self,
        predictor: Predictor,
        input_file: str,
        output_file: Optional[str],
        batch_size: int,
        print_to_console: bool,
        has_dataset_reader: bool,
        multitask_head: Optional[str] = None,
    ) -> None:
        super().__init__(
            predictor,
            input_file,
            None,
            batch_size,
            print_to_console,
            has_dataset_reader,
            multitask_head,
        )
        self._output_path = output_file
        self._input_name = "<stdin>" if input_file == "-" else input_file
        # The line numbers of the inputs read but not yet predicted: the next batch's.
        self._unpredicted_lines: List[int] = []

    def run(self) -> None:
        path = self._output_path
        if path is None:
            super().run()
            return
        if os.path.exists(path) and not os.path.isfile(path):
            with open(path, "w") as self._output_file:
                super().run()
            return
        with atomic_output(path) as self._output_file:
            super().run()

    def _numbered_lines(self) -> Iterator[Tuple[int, str]]:
        """The input's lines with their numbers (from 1), decoded as UTF-8."""
        if self._input_file == "-":
            yield from enumerate(sys.stdin, 1)
            return
        with open_compressed(cached_path(self._input_file), "rb", encoding=None) as lines:
            for number, line in enumerate(lines, 1):
                try:
                    yield number, line.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise DataFileError(
                        self._input_name, number, f"not valid UTF-8 ({error})"
                    ) from None

    def _get_json_data(self) -> Iterator[JsonDict]:
        for number, line in self._numbered_lines():
            if line.isspace():
                continue
            try:
                item = self._predictor.load_line(line)
            except json.JSONDecodeError as error:
                # `error.pos` counts from the start of the line (`colno` from a line break).
                problem = f"not valid JSON: {error.msg} at column {error.pos + 1}"
                raise DataFileError(self._input_name, number, problem) from None
            self._unpredicted_lines.append(number)
            yield item

    def _predict_json(self, batch_data: List[JsonDict]) -> Iterator[str]:
        lines = self._unpredicted_lines[: len(batch_data)]
        del self._unpredicted_lines[: len(batch_data)]
        try:
            results = list(super()._predict_json(batch_data))
        except BadInputError as error:
            raise DataFileError(self._input_name, lines[error.index], error.description) from None
        except Exception as error:
            where = f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"
            error.add_note(f"while predicting {self._input_name}, {where}")
            raise
        yield from results


def apply() -> None:
    """Makes `allennlp predict` use `LineNumberedPredictManager`."""
    predict._PredictManager = LineNumberedPredictManager
