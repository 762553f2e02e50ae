from typing import Optional


class DataFileError(ValueError):
    """A data file that cannot be read; the message is `"PATH, line N: PROBLEM"` (or
    `"PATH: PROBLEM"` for problems of the whole file)."""

    def __init__(self, path: str, line_number: Optional[int], problem: str) -> None:
        where = f"{path}, line {line_number}" if line_number is not None else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line_number = line_number
        self.problem = problem

    def __reduce__(self):
        # Pickled by its own arguments (to and from worker processes), not by the message.
        return type(self), (self.path, self.line_number, self.problem)
