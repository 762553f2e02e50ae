from taglm_plugin.data import token_indexers  # noqa: F401
