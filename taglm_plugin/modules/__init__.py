from taglm_plugin.modules import seq2seq_encoders  # noqa: F401
from taglm_plugin.modules.conditional_random_field import FastConditionalRandomField  # noqa: F401
from taglm_plugin.modules import token_embedders  # noqa: F401
