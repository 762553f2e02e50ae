from taglm_plugin.data import data_collators, token_indexers, vocabularies  # noqa: F401
