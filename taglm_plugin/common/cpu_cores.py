import os


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity, which a container or `taskset`
    may limit below `os.cpu_count()`), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity on this platform
        return os.cpu_count() or 1
