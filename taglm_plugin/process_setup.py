"""
Everything that importing `taglm_plugin` changes in the process besides registering its
components, in one place: `apply()`, which the package's `__init__` calls on import (the
modules that this one imports register their components before it runs; no change is needed
earlier than a config is read, an archive extracted or an input predicted). Each change is
made once, and each is documented in the module that implements it:

* `os.environ`: the `std.extVar` variables that the configs in `training_configs/` read get
  their defaults where the environment does not set them (`common.config_defaults`).
* `tarfile`: Python's `"data"` extraction filter becomes the default of every tar extraction
  that chooses none, and allennlp's `extracted_archive` removes its directory when extraction
  fails (`common.safe_loading`): an archive cannot write outside its directory.
* allennlp's type resolution: configs and archives may name only registered types; a dotted
  name is never imported (`common.registered_types`).
* `allennlp predict`: a bad input line is reported with its line number
  (`commands.predict_manager`).
* exit: a process that leaves torch.distributed's default gloo process group initialized
  (every CPU worker of allennlp's distributed training: its `_train_worker` never destroys it)
  destroys it before the interpreter finalizes (`_destroy_process_group`, here).

What runs at interpreter start, before allennlp imports any plugin, is in
`taglm_plugin_startup` (the `.pth` file that installing the project adds), not here.
"""
import atexit
import gc
import logging

import torch.distributed as dist

from taglm_plugin.commands import predict_manager
from taglm_plugin.common import config_defaults, registered_types, safe_loading

logger = logging.getLogger(__name__)

_applied = False


def apply() -> None:
    """Makes the changes listed in the module docstring."""
    global _applied
    config_defaults.apply()
    registered_types.apply()
    safe_loading.apply()
    predict_manager.apply()
    if not _applied:
        atexit.register(_destroy_process_group)
        _applied = True


def _destroy_process_group() -> None:
    """
    Destroys torch.distributed's process groups, if initialized with gloo, at exit (an
    `atexit` handler: the interpreter is still whole), and collects the garbage that still
    holds them (the finished trainer's `DistributedDataParallel` wrapper, in reference
    cycles), so that the process group's threads end here. Left alive, a gloo group's worker
    threads may release a collective's tensors while the interpreter finalizes, and taking
    the GIL then ends the thread in the middle of C++ code: "terminate called without an
    active exception", the worker dies with SIGABRT after training finished (the mechanism
    described in pytorch/pytorch#179291, a torch change proposing such a handler, not
    merged). No barrier first: a group whose other worker already failed must not hang the
    exit. NCCL groups are left alone: their destroy waits for pending collectives, which a
    failed peer never joins.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if dist.get_backend() != "gloo":
        return
    try:
        dist.destroy_process_group()
    except Exception as error:  # exiting anyway: the handler must not hide the exit status
        logger.warning("Could not destroy the distributed process group at exit: %s", error)
        return
    gc.unfreeze()  # `taglm_gc_freeze` unfreezes at the end of training, not after a failure
    gc.collect()
    logger.info("Destroyed the distributed process group before exit")
