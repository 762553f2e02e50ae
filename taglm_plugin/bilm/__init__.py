"""
The frozen bidirectional LM that a TagLM tagger reads (`frozen_bilm`): a pair of
`taglm_language_model` archives or an ELMo-format biLM, and the cache of its states.
"""
from taglm_plugin.bilm import frozen_bilm  # noqa: F401
