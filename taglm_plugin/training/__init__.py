from taglm_plugin.training import metrics  # noqa: F401
from taglm_plugin.training import learning_rate_schedulers  # noqa: F401
from taglm_plugin.training import callbacks  # noqa: F401
from taglm_plugin.training import checkpointers  # noqa: F401
