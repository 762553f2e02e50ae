"""
The sequence tagger: the CoNLL reader (`taglm_conll`) and its tag schemes, token indexers
(words, characters, casing: `word_casing`) and vocabulary, the word embeddings (`glove`,
`taglm_word_embedding`), the biRNN that takes the LM states (`taglm_birnn`), the model
(`taglm_tagger`), its metrics (`conlleval_f1`, `word_kind_shares`), predictor
(`taglm_tagger`) and evaluation serializer.
"""
from taglm_plugin.tagging import cached_characters  # noqa: F401
from taglm_plugin.tagging import conll_column  # noqa: F401
from taglm_plugin.tagging import conlleval_f1  # noqa: F401
from taglm_plugin.tagging import glove_embedding  # noqa: F401
from taglm_plugin.tagging import normalized_single_id  # noqa: F401
from taglm_plugin.tagging import tagger_predictions_serializer  # noqa: F401
from taglm_plugin.tagging import tagger_vocabulary  # noqa: F401
from taglm_plugin.tagging import taglm_birnn  # noqa: F401
from taglm_plugin.tagging import taglm_tagger  # noqa: F401
from taglm_plugin.tagging import taglm_tagger_predictor  # noqa: F401
from taglm_plugin.tagging import taglm_word_embedding  # noqa: F401
from taglm_plugin.tagging import word_casing  # noqa: F401
from taglm_plugin.tagging import word_kind_shares  # noqa: F401
