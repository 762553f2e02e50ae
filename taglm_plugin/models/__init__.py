from taglm_plugin.models.language_model import LanguageModel  # noqa: F401
