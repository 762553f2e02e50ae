"""
Conventions that the modules of `lm` share.
"""

# The target of a position that is not a word (padding): its row is left out of every
# softmax's loss. It is the default `ignore_index` of `torch.nn.functional.nll_loss`, so
# allennlp's full softmax (`SoftmaxLoss`, `SampledSoftmaxLoss` in evaluation) leaves it out too.
IGNORED_TARGET = -100
