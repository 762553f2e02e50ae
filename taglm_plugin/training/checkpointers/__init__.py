from taglm_plugin.training.checkpointers.crash_safe import CrashSafeCheckpointer  # noqa: F401
