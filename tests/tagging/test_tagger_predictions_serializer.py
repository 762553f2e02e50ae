import json

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.evaluation import Evaluator

from taglm_plugin.speed.vectorized_data_collator import BatchMetadata
from taglm_plugin.tagging.tagger_predictions_serializer import TaggerPredictionsSerializer

WORDS = [["EU", "rejects"], ["Peter"]]


def tag_names(output):
    """A stand-in for `make_output_human_readable`: tag ids to names."""
    names = ["O", "U-ORG", "U-PER"]
    return {**output, "tags": [[names[tag] for tag in tags] for tags in output["tags"]]}


def serialize(metadata, output):
    batch = {"metadata": BatchMetadata(metadata)}
    return TaggerPredictionsSerializer()(batch, output, None, tag_names).split("\n")


def test_one_line_per_sentence_with_words_and_predicted_and_gold_tags():
    metadata = [{"words": WORDS[0], "tags": ["U-ORG", "O"]}, {"words": WORDS[1], "tags": ["O"]}]
    lines = serialize(metadata, {"words": WORDS, "tags": [[1, 0], [2]], "logits": None})
    assert [json.loads(line) for line in lines] == [
        {"words": ["EU", "rejects"], "tags": ["U-ORG", "O"], "gold_tags": ["U-ORG", "O"]},
        {"words": ["Peter"], "tags": ["U-PER"], "gold_tags": ["O"]},
    ]


def test_untagged_data_has_no_gold_tags_and_top_k_tags_are_kept():
    metadata = [{"words": words} for words in WORDS]
    top_k = [[{"tags": ["U-ORG", "O"], "score": 2.5}], [{"tags": ["U-PER"], "score": 1.0}]]
    output = {"words": WORDS, "tags": [[1, 0], [2]], "top_k_tags": top_k}
    lines = [json.loads(line) for line in serialize(metadata, output)]
    assert [set(line) for line in lines] == [{"words", "tags", "top_k_tags"}] * 2
    assert [line["top_k_tags"] for line in lines] == top_k


def test_output_without_words_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match=r"lacks \['words'\] \(it has \['tags'\]\)"):
        serialize([{}], {"tags": [[0]]})


def test_evaluator_builds_it_from_the_config_key():
    evaluator = Evaluator.from_params(
        Params({"batch_serializer": {"type": "taglm_tagger_predictions"}})
    )
    assert isinstance(evaluator.batch_serializer, TaggerPredictionsSerializer)
