"""TagLM (Peters et al., ACL 2017) as an AllenNLP plugin: importing this package registers
every component (readers, data loaders, token indexers, token embedders, encoders, models,
predictors, metrics, learning-rate schedulers, evaluation serializers)."""
from taglm_plugin import config_defaults

config_defaults.apply()

from taglm_plugin import (  # noqa: E402,F401
    data,
    data_loaders,
    dataset_readers,
    evaluation,
    models,
    modules,
    predictors,
    training,
)
from taglm_plugin.common import safe_loading  # noqa: E402

safe_loading.apply()

from taglm_plugin.commands import predict_manager  # noqa: E402

predict_manager.apply()
