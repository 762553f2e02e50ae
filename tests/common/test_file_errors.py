import pickle

from taglm_plugin.lm.lm_text import LmTextFormatError


def test_data_file_errors_survive_pickling_as_worker_processes_send_them():
    error = LmTextFormatError("wiki.txt", 7, "text outside <doc> ... </doc>")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is LmTextFormatError and str(copy) == str(error)
    assert (copy.path, copy.line_number, copy.problem) == ("wiki.txt", 7, error.problem)
