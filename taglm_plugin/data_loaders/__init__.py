from taglm_plugin.data_loaders.lm_cache_data_loader import LmCacheDataLoader  # noqa: F401
