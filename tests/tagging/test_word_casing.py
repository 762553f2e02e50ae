import pytest
import torch
from allennlp.common import Params
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.data.token_indexers import TokenIndexer
from allennlp.modules.token_embedders import TokenEmbedder

from taglm_plugin.tagging.word_casing import WordCasingIndexer, casing_class

TRAIN = "EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n. O\n\n1996 O\n\n"
TEST = "U.S. B-LOC\nsold O\n1990s O\nat O\nA4 O\n3-2 O\niPhone O\n\n"


@pytest.mark.parametrize(
    "word, expected",
    [
        ("1996", "numeric"),
        ("1990s", "mainly_numeric"),
        ("3-2", "mainly_numeric"),
        ("rejects", "all_lower"),
        ("a1", "all_lower"),  # half digits: not mainly numeric
        ("EU", "all_upper"),
        ("U.S.", "all_upper"),
        ("A", "all_upper"),
        ("German", "initial_upper"),
        ("McDonald's", "initial_upper"),
        ("a1B", "contains_digit"),
        ("iPhone", "other"),
        (".", "other"),
        ("", "other"),
    ],
)
def test_casing_class(word, expected):
    assert casing_class(word) == expected


def read(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    reader = DatasetReader.from_params(
        Params(
            {
                "type": "taglm_conll",
                "tag_column": 1,
                "tag_scheme": "IOB1",
                "token_indexers": {"casing": {"type": "word_casing"}},
            }
        )
    )
    return list(reader.read(str(path)))


def test_ids_come_from_the_training_data_and_pad_with_0(tmp_path):
    vocab = Vocabulary.from_instances(read(tmp_path, "train.txt", TRAIN))
    assert set(vocab.get_token_to_index_vocabulary("casing")) == {
        "@@PADDING@@", "@@UNKNOWN@@", "all_upper", "all_lower", "initial_upper", "other",
        "numeric",
    }  # fmt: skip
    batch = Batch(read(tmp_path, "test.txt", TEST) + read(tmp_path, "train.txt", TRAIN)[1:])
    batch.index_instances(vocab)
    ids = batch.as_tensor_dict()["tokens"]["casing"]["tokens"]
    index = vocab.get_token_index
    # "1990s" and "3-2" are mainly numeric, a class that training does not have.
    expected = ["all_upper", "all_lower", "@@UNKNOWN@@", "all_lower", "all_upper",
                "@@UNKNOWN@@", "other"]  # fmt: skip
    assert ids[0].tolist() == [index(name, "casing") for name in expected]
    assert ids[1].tolist() == [index("numeric", "casing")] + [0] * 6


def test_an_embedding_of_its_namespace_embeds_it(tmp_path):
    vocab = Vocabulary.from_instances(read(tmp_path, "train.txt", TRAIN))
    embedder = TokenEmbedder.from_params(
        Params({"type": "embedding", "embedding_dim": 3, "vocab_namespace": "casing"}),
        vocab=vocab,
    )
    batch = Batch(read(tmp_path, "train.txt", TRAIN))
    batch.index_instances(vocab)
    ids = batch.as_tensor_dict()["tokens"]["casing"]["tokens"]
    embedded = embedder(ids)
    assert embedded.shape == (2, 5, 3)
    # "EU" (all upper) and "call" (all lower): different rows.
    assert not torch.equal(embedded[0, 0], embedded[0, 3])


def test_round_trips_through_params():
    indexer = WordCasingIndexer(namespace="case", token_min_padding_length=2)
    params = indexer.to_params()
    assert params.as_dict(quiet=True) == {"namespace": "case", "token_min_padding_length": 2}
    again = TokenIndexer.from_params(Params({"type": "word_casing", **params.as_dict()}))
    assert type(again) is WordCasingIndexer
    assert again.namespace == "case" and again._token_min_padding_length == 2
