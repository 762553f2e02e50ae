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

What runs at interpreter start, before allennlp imports any plugin, is in
`taglm_plugin_startup` (the `.pth` file that installing the project adds), not here.
"""
from taglm_plugin.commands import predict_manager
from taglm_plugin.common import config_defaults, registered_types, safe_loading


def apply() -> None:
    """Makes the changes listed in the module docstring."""
    config_defaults.apply()
    registered_types.apply()
    safe_loading.apply()
    predict_manager.apply()
