from taglm_plugin.data_loaders.closing_multiprocess_data_loader import (  # noqa: F401
    ClosingMultiProcessDataLoader,
)
from taglm_plugin.data_loaders.lm_cache_data_loader import LmCacheDataLoader  # noqa: F401
