import atexit
import logging
import weakref
from typing import Any, Dict, List, Optional, Sequence, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict
from allennlp.data import DatasetReader, Instance
from allennlp.models import Model
from allennlp.predictors.predictor import Predictor

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.common.conll_tokenizer import conll_like_english
from taglm_plugin.common.cpu_cores import cpu_cores
from taglm_plugin.speed.prediction_workers import PredictionWorkers
from taglm_plugin.tagging.cached_characters import with_cached_elmo_characters
from taglm_plugin.tagging.conll_column import ConllColumnReader
from taglm_plugin.tagging.tag_schemes import INPUT_SCHEMES, tags_to_spans
from taglm_plugin.tagging.word_kind_shares import WordKindShares

logger = logging.getLogger(__name__)

# The predictor logs which word vectors the tokens used after the first batch, every this many
# sentences and at exit.
LOG_WORD_KINDS_EVERY = 1000

# Sentences per forward pass of the model on the CPU (on one thread the per-token time of the
# baseline's biLSTM is flat from about 32 sentences up) and on a GPU (where the throughput
# figures of docs/PERFORMANCE.md were measured).
DEFAULT_BATCH_SIZE = {"cpu": 64, "gpu": 512}

INPUT_KEYS = ("sentence", "tokens")
EXPECTED_INPUT = '{"sentence": "raw text"} or {"tokens": ["pre", "tokenized"]}'


class BadInputError(ValueError):
    """
    An input that the predictor cannot tag: `index` is its position in the batch (0 for
    `predict_json`), `description` the input (shortened) and what is wrong with it. The
    message is the description, after the input's position when the batch has several.
    """

    def __init__(self, index: int, batch_size: int, item: Any, problem: str) -> None:
        shown = repr(item)
        if len(shown) > 200:
            shown = shown[:200] + "..."
        self.index = index
        self.description = f"{shown}: {problem} {EXPECTED_INPUT}"
        where = f"input {index + 1} of {batch_size}" if batch_size > 1 else "input"
        super().__init__(f"{where} {self.description}")
        self._arguments = (index, batch_size, item, problem)

    def __reduce__(self) -> Tuple[type, Tuple[int, int, Any, str]]:
        # Pickled by its arguments: it travels back from the predictor's worker processes.
        return BadInputError, self._arguments


def token_offsets(text: str, tokens: Sequence[str]) -> List[Tuple[int, int]]:
    """
    `(char_start, char_end)` of every token in `text` (`char_end` exclusive), aligning the
    tokens left to right; raises `ValueError` when a token does not occur in order.
    """
    offsets = []
    position = 0
    for token in tokens:
        start = text.find(token, position)
        if start < 0:
            raise ValueError(f"token {token!r} does not occur in {text!r} after {position}")
        position = start + len(token)
        offsets.append((start, position))
    return offsets


def entity_spans(
    text: str, tokens: Sequence[str], tags: Sequence[str], scheme: str
) -> List[JsonDict]:
    """
    The spans of `tags` (in `scheme`, see `tags_to_spans`) as
    `{"type", "start", "end", "text", "char_start", "char_end"}`: `start` and `end` are token
    indices (`end` inclusive), `char_start`/`char_end` character offsets into `text`
    (`char_end` exclusive, so `text[char_start:char_end] == span["text"]`).
    """
    offsets = token_offsets(text, tokens)
    spans = []
    for label, start, end in tags_to_spans(tags, scheme):
        char_start, char_end = offsets[start][0], offsets[end][1]
        spans.append(
            {
                "type": label,
                "start": start,
                "end": end,
                "text": text[char_start:char_end],
                "char_start": char_start,
                "char_end": char_end,
            }
        )
    return spans


@Predictor.register("taglm_tagger")
class TagLmTaggerPredictor(ChecksConfigKeys, Predictor):
    """
    Tags raw or tokenized English text with a tagger trained on `taglm_conll` data (the
    `taglm_tagger` model, or any `CrfTagger` with a `label_encoding`) and reads its entity or
    chunk spans.

    Each input is one of

    * `{"sentence": "Angela Merkel met Emmanuel Macron in Paris."}`: raw text, tokenized
      offline like CoNLL-2003 text by spaCy's rule-based English tokenizer
      (`conll_like_english`: `isn't` -> `is n't`, `2-1` and `Anglo-Dutch` kept whole);
      span offsets are into this string.
    * `{"tokens": ["EU", "rejects", "German", "call"]}`: tokens used as they are; span
      offsets are into the tokens joined by single spaces (`"EU rejects German call"`).

    Each input is tagged as one sequence and gives one output (several sentences in one
    `"sentence"` string are not split; the tagger was trained on single sentences, so give
    one sentence per input for the best results):

    * `tokens`: the tokens the model saw,
    * `tags`: the predicted tag of every token, in the model's `label_encoding`,
    * `spans`: `[{"type", "start", "end", "text", "char_start", "char_end"}]` (see
      `entity_spans`),
    * `top_k_tags`: the model's `top_k` best tag sequences with scores, when `top_k > 1`.

    The model's other outputs (`logits`, `mask`, `loss`) are dropped. With
    `allennlp predict --use-dataset-reader`, outputs have the same keys, offsets into the
    tokens joined by single spaces.

    Speed: a batch's sentences are tagged in order of length, `batch_size` per forward pass,
    and the outputs given back in the order of the inputs. On the CPU, a batch of more than
    `batch_size` inputs is tagged by `workers` processes forked from this one (default: one
    per CPU core; `PredictionWorkers`), each with one intra-op thread and a forward pass at a
    time, which scales with the cores where torch's intra-op threads do not. The outputs are
    those of tagging in this process (`workers: 0`). With `allennlp predict`, give the
    workers work with a large `--batch-size` (the lines per call, e.g. 4096) and set them with
    `--predictor-args '{"workers": 16}'`. `close()` ends the workers. The dataset reader's
    `elmo_characters` indexers (a frozen biLM's input) are replaced by
    `cached_elmo_characters` ones, which give the same ids and map each distinct word once
    (`with_cached_elmo_characters`).

    An input that is not one of these raises `BadInputError`, which names it and its position
    in the batch. `allennlp predict IN.jsonl --output-file OUT.jsonl`, run with the plugin
    (`taglm_plugin.commands.predict_manager`), names the line instead (`DataFileError`:
    `"IN.jsonl, line N: ..."`, also for a line that is not valid JSON or UTF-8) and writes
    `OUT.jsonl` only when every line has been predicted: the predictions go to a temporary
    file beside it that replaces it at the end, so after an error there is no new output and
    an earlier `OUT.jsonl` is unchanged.

    With a `taglm_word_embedding`, the log says which word vectors the tokens so far used
    (the shares of training, pretrained-only and unknown-word vectors, `TagLmTagger`'s
    `word_kind_shares`): after the first batch, every `LOG_WORD_KINDS_EVERY` sentences and at
    exit.

    Registered as a `Predictor` with name "taglm_tagger".

    # Parameters

    workers : `int`, optional (default = one per CPU core on the CPU, `0` on a GPU)
        Processes that tag a batch of more than `batch_size` inputs; `0` tags in this process.
        Not allowed (above 0) for a model on a GPU.
    batch_size : `int`, optional (default = `DEFAULT_BATCH_SIZE`: 64 on the CPU, 512 on a GPU)
        Sentences per forward pass of the model.
    """

    def __init__(
        self,
        model: Model,
        dataset_reader: DatasetReader,
        frozen: bool = True,
        workers: Optional[int] = None,
        batch_size: Optional[int] = None,
    ) -> None:
        super().__init__(model, dataset_reader, frozen)
        on_cpu = self.cuda_device < 0
        if workers is None:
            workers = cpu_cores() if on_cpu else 0
        if workers < 0 or (workers > 0 and not on_cpu):
            raise ConfigurationError(
                f"the taglm_tagger predictor's workers must be >= 0 and 0 for a model on a "
                f"GPU, got {workers} (model on cuda device {self.cuda_device})"
            )
        if batch_size is None:
            batch_size = DEFAULT_BATCH_SIZE["cpu" if on_cpu else "gpu"]
        if batch_size < 1:
            raise ConfigurationError(
                f"the taglm_tagger predictor's batch_size must be >= 1, got {batch_size}"
            )
        self._batch_size = batch_size
        self._workers = PredictionWorkers(workers, self._tag_share) if workers else None
        if not isinstance(dataset_reader, ConllColumnReader):
            raise ConfigurationError(
                "the taglm_tagger predictor needs the 'taglm_conll' dataset reader, not "
                f"{type(dataset_reader).__name__}"
            )
        dataset_reader.token_indexers = with_cached_elmo_characters(dataset_reader.token_indexers)
        label_encoding = getattr(model, "label_encoding", None)
        if label_encoding not in INPUT_SCHEMES:
            raise ConfigurationError(
                f"model.label_encoding is {label_encoding!r}; the taglm_tagger predictor reads "
                f"spans from tags in one of {', '.join(INPUT_SCHEMES)} and needs it set to the "
                "dataset reader's output_tag_scheme"
            )
        self._tag_scheme = label_encoding
        self._tokenizer = conll_like_english(sentence_splitter=False).tokenizer
        self._sentences = 0
        if callable(getattr(model, "word_kind_shares", None)):
            atexit.register(_log_word_kinds_at_exit, weakref.ref(self))

    @property
    def batch_size(self) -> int:
        """Sentences per forward pass of the model."""
        return self._batch_size

    def predict(self, sentence: str) -> JsonDict:
        return self.predict_json({"sentence": sentence})

    def predict_json(self, inputs: JsonDict) -> JsonDict:
        return self.predict_batch_json([inputs])[0]

    def predict_batch_json(self, inputs: List[JsonDict]) -> List[JsonDict]:
        if self._in_workers(len(inputs)):
            return self._tag_in_workers(inputs)
        outputs = self._tag_json(list(enumerate(inputs)), len(inputs))
        self._count_sentences(len(inputs))
        return outputs

    def predict_instance(self, instance: Instance) -> JsonDict:
        return self.predict_batch_instance([instance])[0]

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        if self._in_workers(len(instances)):
            # The workers build the instances again from the words, which pickle far smaller.
            words = [[token.text for token in instance["tokens"]] for instance in instances]
            return self._tag_in_workers([{"tokens": tokens} for tokens in words])
        outputs = self._model_outputs(instances)
        self._count_sentences(len(instances))
        return [self._user_output(output, " ".join(output["words"])) for output in outputs]

    def close(self) -> None:
        """Ends the worker processes, if any are running (the next batch starts them again)."""
        if self._workers is not None:
            self._workers.close()

    def _in_workers(self, batch_size: int) -> bool:
        """Whether a batch of `batch_size` inputs is tagged by the worker processes."""
        return self._workers is not None and batch_size > self._batch_size

    def _tag_in_workers(self, inputs: List[JsonDict]) -> List[JsonDict]:
        """
        `predict_batch_json` by the workers: the inputs cut in order of length into shares of
        `batch_size` (one forward pass of a worker), each share in the order of the batch,
        handed out longest first (so that the workers finish together: the shortest shares
        last fill the gaps; shortest first left most workers idle while the longest shares
        ran); a bad input raises `BadInputError` for the first bad input of the batch, as in
        this process.
        """
        lengths = [_approximate_length(item) for item in inputs]
        shares = [
            ([(index, inputs[index]) for index in sorted(indices)], len(inputs))
            for indices in reversed(_batches_by_length(lengths, self._batch_size))
        ]
        results = self._workers.map(shares)
        errors = [result for result in results if isinstance(result, BadInputError)]
        if errors:
            raise min(errors, key=lambda error: error.index)
        outputs: List[Optional[JsonDict]] = [None] * len(inputs)
        word_kinds = _word_kind_shares(self._model)
        for (share, _), (share_outputs, word_kind_counts) in zip(shares, results):
            for (index, _), output in zip(share, share_outputs):
                outputs[index] = output
            if word_kinds is not None:
                word_kinds.add_counts(word_kind_counts)
        self._count_sentences(len(inputs))
        return outputs

    def _tag_share(self, share_and_batch_size: Tuple[List[Tuple[int, JsonDict]], int]) -> Any:
        """
        A worker's task (`PredictionWorkers`): the outputs of a share of a batch of
        `batch_size` inputs, `[(index in the batch, input)]`, and the word-kind counts of
        its tokens (`WordKindShares.take_counts`, `None` without a `taglm_word_embedding`);
        or the `BadInputError` of its first bad input.
        """
        share, batch_size = share_and_batch_size
        word_kinds = _word_kind_shares(self._model)
        if word_kinds is not None:
            word_kinds.reset()  # this share's counts only: a worker starts with the parent's
        try:
            outputs = self._tag_json(share, batch_size)
        except BadInputError as error:
            return error
        return outputs, None if word_kinds is None else word_kinds.take_counts()

    def _tag_json(
        self, indexed_inputs: List[Tuple[int, JsonDict]], batch_size: int
    ) -> List[JsonDict]:
        """The outputs of inputs `[(index in the batch, input)]` of a batch of `batch_size`,
        tagged in this process; `BadInputError` for the first bad input."""
        texts_and_tokens = [
            self._text_and_tokens(item, index, batch_size) for index, item in indexed_inputs
        ]
        instances = [
            self._dataset_reader.text_to_instance(tokens) for _, tokens in texts_and_tokens
        ]
        outputs = self._model_outputs(instances)
        return [
            self._user_output(output, text)
            for output, (text, _) in zip(outputs, texts_and_tokens)
        ]

    def _model_outputs(self, instances: List[Instance]) -> List[Dict[str, Any]]:
        """
        The model's output per instance, in the order of `instances`, from forward passes of
        up to `batch_size` instances in order of length (less padding). Not sanitized as
        `Predictor.predict_batch_instance` does (which turns every logit into a Python
        float): `_user_output` keeps only words, tag strings and `top_k_tags`, all plain
        Python values already.
        """
        for instance in instances:
            self._dataset_reader.apply_token_indexers(instance)
        lengths = [len(instance["tokens"]) for instance in instances]
        outputs: List[Optional[Dict[str, Any]]] = [None] * len(instances)
        for batch in _batches_by_length(lengths, self._batch_size):
            batch_outputs = self._model.forward_on_instances([instances[index] for index in batch])
            for index, output in zip(batch, batch_outputs):
                outputs[index] = output
        return outputs

    def _count_sentences(self, count: int) -> None:
        """Counts `count` more sentences tagged, logging the word kinds when it is time."""
        before, self._sentences = self._sentences, self._sentences + count
        if before == 0 or before // LOG_WORD_KINDS_EVERY < self._sentences // LOG_WORD_KINDS_EVERY:
            self.log_word_kinds()

    def log_word_kinds(self) -> None:
        """Logs the shares of the kinds of word vectors the tokens predicted so far used."""
        shares = getattr(self._model, "word_kind_shares", None)
        figures = shares() if callable(shares) else {}
        if figures:
            logger.info(
                "Word vectors of the %d sentences so far: %s",
                self._sentences,
                ", ".join(f"{name} {100 * share:.1f}%" for name, share in figures.items()),
            )

    def _user_output(self, output: Dict[str, Any], text: str) -> JsonDict:
        tokens, tags = output["words"], output["tags"]
        user_output = {
            "tokens": tokens,
            "tags": tags,
            "spans": entity_spans(text, tokens, tags, self._tag_scheme),
        }
        if "top_k_tags" in output:
            user_output["top_k_tags"] = output["top_k_tags"]
        return user_output

    def _text_and_tokens(self, item: Any, index: int, batch_size: int) -> Tuple[str, List[str]]:
        """
        The text that span offsets refer to and its tokens; a `BadInputError` for an `item`
        that is not a valid input, at `index` of a batch of `batch_size`.
        """

        def bad_input(problem: str) -> BadInputError:
            return BadInputError(index, batch_size, item, problem)

        keys = [key for key in INPUT_KEYS if isinstance(item, dict) and key in item]
        if len(keys) != 1:
            raise bad_input("expected a JSON object with exactly one of")
        value = item[keys[0]]
        if keys[0] == "sentence":
            if not isinstance(value, str):
                raise bad_input('"sentence" must be a string; expected')
            tokens = [token.text for token in self._tokenizer(value) if not token.is_space]
            if not tokens:
                raise bad_input('"sentence" has no tokens; expected')
            return value, tokens
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(token, str) and token.strip() for token in value)
        ):
            raise bad_input('"tokens" must be a non-empty list of non-blank strings; expected')
        return " ".join(value), value


def _approximate_length(item: Any) -> int:
    """About the number of tokens of an input (whitespace-separated words of a raw
    sentence), which orders a batch by length before it is tokenized; 0 for a bad input."""
    value = next((item[key] for key in INPUT_KEYS if isinstance(item, dict) and key in item), None)
    if isinstance(value, str):
        return len(value.split())
    return len(value) if isinstance(value, list) else 0


def _batches_by_length(lengths: List[int], batch_size: int) -> List[List[int]]:
    """The indices of `lengths` in order of length (ties in index order), cut into batches of
    `batch_size`: batches of similar lengths need little padding."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _word_kind_shares(model: Model) -> Optional[WordKindShares]:
    """The metric in which a `TagLmTagger` counts the word kinds of the tokens it tags
    (`word_kind_metric`), `None` for other models."""
    return getattr(model, "word_kind_metric", None)


def _log_word_kinds_at_exit(predictor: "weakref.ref[TagLmTaggerPredictor]") -> None:
    alive = predictor()
    if alive is not None and alive._sentences:
        alive.log_word_kinds()
