"""
Training machinery that knows no model: trainer callbacks, the crash-safe checkpointer, the
paper's learning-rate schedule and the multi-process data loader that closes its workers.
"""
from taglm_plugin.training import callbacks  # noqa: F401
from taglm_plugin.training import checkpointers  # noqa: F401
from taglm_plugin.training import closing_multiprocess_data_loader  # noqa: F401
from taglm_plugin.training import learning_rate_schedulers  # noqa: F401
