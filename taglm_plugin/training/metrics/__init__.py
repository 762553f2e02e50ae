from taglm_plugin.training.metrics.conlleval_f1 import (  # noqa: F401
    ConllevalCounts,
    ConllevalF1Measure,
    conlleval_report,
)
