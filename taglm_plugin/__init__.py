"""TagLM (Peters et al., ACL 2017) as an AllenNLP plugin: importing this package registers
every component (readers, data loaders, token indexers, token embedders, encoders, models,
predictors, metrics, learning-rate schedulers, evaluation serializers), makes allennlp resolve
only registered type names and extract archives safely (`taglm_plugin.common.registered_types`,
`taglm_plugin.common.safe_loading`), and makes `allennlp predict` name the line of a bad input
(`taglm_plugin.commands.predict_manager`); it also adds the `allennlp taglm-study`
subcommand (`taglm_plugin.commands.taglm_study`)."""
from taglm_plugin.common import config_defaults

config_defaults.apply()

from taglm_plugin import bilm, lm, speed, tagging, training  # noqa: E402,F401
from taglm_plugin.common import registered_types, safe_loading  # noqa: E402

registered_types.apply()
safe_loading.apply()

from taglm_plugin.commands import predict_manager, taglm_study  # noqa: E402,F401

predict_manager.apply()
