from taglm_plugin.dataset_readers.conll_column import ConllColumnReader, ConllFormatError
from taglm_plugin.dataset_readers.lm_text import LmTextReader  # noqa: F401
