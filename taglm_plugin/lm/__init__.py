"""
The language models that TagLM pretrains on unlabeled text: the text reader
(`taglm_lm_text`), its token cache and loader (`taglm_lm_cache`), the model
(`taglm_language_model`: token embedding, LSTMP layers, a sampled, adaptive or full softmax),
its perplexity metric and the export of its encoder-only archive.
"""
from taglm_plugin.lm import language_model  # noqa: F401
from taglm_plugin.lm import lm_cache_data_loader  # noqa: F401
from taglm_plugin.lm import lm_text  # noqa: F401
from taglm_plugin.lm import lm_token_cache_vocabulary  # noqa: F401
from taglm_plugin.lm import token_perplexity  # noqa: F401
