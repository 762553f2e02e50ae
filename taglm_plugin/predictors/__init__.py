from taglm_plugin.predictors.taglm_tagger import TagLmTaggerPredictor  # noqa: F401
