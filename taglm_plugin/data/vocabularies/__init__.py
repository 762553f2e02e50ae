from taglm_plugin.data.vocabularies.tagger_vocabulary import TaggerVocabulary  # noqa: F401
