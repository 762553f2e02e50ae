"""TagLM (Peters et al., ACL 2017) as an AllenNLP plugin: importing this package registers
every component (readers, data loaders, token indexers, token embedders, encoders, models,
predictors, metrics, learning-rate schedulers), and makes allennlp resolve only registered
type names and extract archives safely (`taglm_plugin.common.registered_types`,
`taglm_plugin.common.safe_loading`)."""
from taglm_plugin import config_defaults

config_defaults.apply()

from taglm_plugin import (  # noqa: E402,F401
    data,
    data_loaders,
    dataset_readers,
    models,
    modules,
    predictors,
    training,
)
from taglm_plugin.common import registered_types, safe_loading  # noqa: E402

registered_types.apply()
safe_loading.apply()
