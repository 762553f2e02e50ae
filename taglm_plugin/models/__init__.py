from taglm_plugin.models.language_model import LanguageModel  # noqa: F401
from taglm_plugin.models.taglm_tagger import TagLmTagger  # noqa: F401
