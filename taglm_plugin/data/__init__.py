from taglm_plugin.data import data_collators, token_indexers  # noqa: F401
