from taglm_plugin.modules import seq2seq_encoders  # noqa: F401
