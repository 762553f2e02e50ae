"""
The frozen bidirectional LM that a TagLM tagger reads (`frozen_bilm`): a pair of
`taglm_language_model` archives or an ELMo-format biLM, the cache of its states, and its
warm-up before training.
"""
from taglm_plugin.bilm import frozen_bilm, state_cache_warmup  # noqa: F401
