from taglm_plugin.training.learning_rate_schedulers.taglm_replay_stages import (  # noqa: F401
    TagLmReplayStagesScheduler,
)
from taglm_plugin.training.learning_rate_schedulers.taglm_step_down import (  # noqa: F401
    TagLmStepDownScheduler,
)
