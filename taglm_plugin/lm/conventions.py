"""
Conventions that the modules of `lm` share, and that the biLM reading its LMs follows.
"""

# The directions a `taglm_language_model` reads its sentences in (its reader's and its own
# `direction`): a backward LM reads each sentence reversed.
DIRECTIONS = ("forward", "backward")

# The target of a position that is not a word (padding): its row is left out of every
# softmax's loss. It is the default `ignore_index` of `torch.nn.functional.nll_loss`, so
# allennlp's full softmax (`SoftmaxLoss`, `SampledSoftmaxLoss` in evaluation) leaves it out too.
IGNORED_TARGET = -100
