from taglm_plugin.training.learning_rate_schedulers.taglm_step_down import (  # noqa: F401
    TagLmStepDownScheduler,
)
