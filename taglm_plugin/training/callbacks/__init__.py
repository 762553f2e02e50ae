from taglm_plugin.training.callbacks.gc_freeze import GcFreezeCallback  # noqa: F401
from taglm_plugin.training.callbacks.stop_after_schedule import (  # noqa: F401
    StopAfterScheduleCallback,
)
from taglm_plugin.training.callbacks.stop_after_seconds import (  # noqa: F401
    StopAfterSecondsCallback,
)
from taglm_plugin.training.callbacks.token_throughput import TokenThroughputCallback  # noqa: F401
from taglm_plugin.training.callbacks.torch_rng_checkpoint import (  # noqa: F401
    TorchRngCheckpointCallback,
)
from taglm_plugin.training.callbacks.training_end_checkpoint import (  # noqa: F401
    TrainingEndCheckpointCallback,
)
from taglm_plugin.training.callbacks.replay_restore import ReplayRestoreCallback  # noqa: F401
from taglm_plugin.training.callbacks.standalone_best_weights import (  # noqa: F401
    StandaloneBestWeightsCallback,
)
