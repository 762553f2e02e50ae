"""
The predictions file of `allennlp evaluate --predictions-output-file` for a tagger: one JSON
line per sentence.
"""
import json
from typing import Any, Callable, Dict, Optional

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import sanitize
from allennlp.data import DataLoader
from allennlp.evaluation.serializers.serializers import Serializer

from taglm_plugin.common.config_keys import ChecksConfigKeys


@Serializer.register("taglm_tagger_predictions")
class TaggerPredictionsSerializer(ChecksConfigKeys, Serializer):
    """
    Serializes a batch as one JSON line per sentence, in the order of the data:

    * `words`: the sentence's words,
    * `tags`: the predicted tag of every word, by name (in the model's `label_encoding`),
    * `gold_tags`: the gold tags as the model was scored on them (in the dataset reader's
      `output_tag_scheme`), when the data has tags,
    * `top_k_tags`: the model's `top_k` best tag sequences with scores, when `top_k > 1`.

    The model's output must have `words` and `tags` after `make_output_human_readable`
    (`taglm_tagger` and allennlp's `crf_tagger` on data with a `metadata` field holding the
    words). allennlp's default serializer instead writes one line per batch with its tensors
    (token ids, logits, mask).

    `allennlp evaluate` builds its serializer from the config's `evaluation` key:
    `evaluation: {batch_serializer: {type: 'taglm_tagger_predictions'}}`, which the tagger
    configs set; for an archive trained without it, pass it with `-o`.

    Registered as a `Serializer` with name "taglm_tagger_predictions".
    """

    def __call__(
        self,
        batch: Dict[str, Any],
        output_dict: Dict[str, Any],
        data_loader: DataLoader,
        output_postprocess_function: Optional[Callable] = None,
    ) -> str:
        if output_postprocess_function is not None:
            output_dict = output_postprocess_function(output_dict)
        missing = [key for key in ("words", "tags") if key not in output_dict]
        if missing:
            raise ConfigurationError(
                f"evaluation.batch_serializer 'taglm_tagger_predictions' needs the model's "
                f"output to have 'words' and 'tags'; it lacks {missing} (it has "
                f"{sorted(output_dict)})"
            )
        metadata = batch.get("metadata")
        lines = []
        for index, (words, tags) in enumerate(zip(output_dict["words"], output_dict["tags"])):
            line = {"words": words, "tags": tags}
            if metadata is not None and "tags" in metadata[index]:
                line["gold_tags"] = metadata[index]["tags"]
            if "top_k_tags" in output_dict:
                line["top_k_tags"] = output_dict["top_k_tags"][index]
            lines.append(json.dumps(sanitize(line)))
        return "\n".join(lines)

    def _to_params(self) -> Dict[str, Any]:
        return {"type": "taglm_tagger_predictions"}
