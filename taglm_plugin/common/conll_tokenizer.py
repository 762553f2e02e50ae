import spacy
from spacy.lang.char_classes import ALPHA, HYPHENS
from spacy.util import compile_infix_regex

# spaCy's English infix rules split hyphenated words (`self-governed` -> `self - governed`)
# and number ranges (`1-0` -> `1 - 0`); CoNLL and the Penn Treebank keep both as one token.
_LETTER_HYPHEN_INFIX = r"(?<=[{a}0-9])(?:{h})(?=[{a}])".format(a=ALPHA, h=HYPHENS)
_DIGIT_OPERATOR_INFIX = r"(?<=[0-9])[+\-\*^](?=[0-9-])"
_DIGIT_OPERATOR_INFIX_WITHOUT_HYPHEN = r"(?<=[0-9])[+\*^](?=[0-9-])"


def conll_like_english(sentence_splitter: bool = True) -> spacy.Language:
    """
    `spacy.blank("en")` (rule-based, no model download) with the hyphen infix rules removed so
    that tokens look like CoNLL / Penn Treebank text: punctuation and clitics are split
    (`isn't` -> `is n't`, `U.K.'s` -> `U.K. 's`), hyphenated words and number ranges are not.
    With `sentence_splitter`, spaCy's rule-based `sentencizer` pipe marks sentence starts.
    """
    nlp = spacy.blank("en")
    infixes = list(nlp.Defaults.infixes)
    for rule in (_LETTER_HYPHEN_INFIX, _DIGIT_OPERATOR_INFIX):
        if rule not in infixes:
            raise RuntimeError(
                f"spaCy {spacy.__version__} no longer has the English infix rule {rule!r}; "
                "update conll_like_english()"
            )
        infixes.remove(rule)
    infixes.append(_DIGIT_OPERATOR_INFIX_WITHOUT_HYPHEN)
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    if sentence_splitter:
        nlp.add_pipe("sentencizer")
    return nlp
