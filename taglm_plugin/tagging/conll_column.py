import logging
import os
import random
import warnings
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Union

from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.data.dataset_readers.dataset_reader import DatasetReader
from allennlp.data.fields import MetadataField, TextField
from allennlp.data.instance import Instance
from allennlp.data.token_indexers import TokenIndexer
from allennlp.data.tokenizers import Token

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.common.file_errors import DataFileError
from taglm_plugin.tagging.cached_characters import CachedTokenCharactersIndexer
from taglm_plugin.tagging.gold_tag_field import GoldTagField, TagSource
from taglm_plugin.tagging.normalized_single_id import NormalizedSingleIdTokenIndexer
from taglm_plugin.tagging.tag_schemes import (
    INPUT_SCHEMES,
    OUTPUT_SCHEMES,
    TagSequenceError,
    canonical_scheme,
    convert_tags,
)

logger = logging.getLogger(__name__)


class ConllFormatError(DataFileError):
    """A column file that cannot be read; the message names the file and the line."""


@dataclass
class ColumnSentence:
    tokens: List[str]
    # The tags as written in the file while it is read, then in the output tag scheme.
    tags: List[str]
    # 1-based line number of each token in the file, for error messages.
    line_numbers: List[int]
    # The tags as written in the file.
    written_tags: Optional[List[str]] = None


@DatasetReader.register("taglm_conll")
class ConllColumnReader(ChecksConfigKeys, DatasetReader):
    """
    Reads column files such as CoNLL-2003 (`token POS chunk NER`, IOB1) and CoNLL-2000
    (`token POS chunk`, IOB2): one token per line, blank lines between sentences,
    `-DOCSTART-` lines (whatever their other columns) between documents.

    Each sentence becomes an `Instance` with

    * `tokens`: a `TextField` of the original tokens. The default indexers are
      `normalized_single_id` (namespace `tokens`: lowercased, digits mapped to 0, as in the
      paper) and `cached_characters` (namespace `token_characters`, case kept, at most its
      default of 64 characters per token).
    * `tags`: a `GoldTagField` of the tags converted to `output_tag_scheme` (omitted when
      `tag_column` is `None`, for unlabeled input); a tag the model's vocabulary lacks is
      scored as a missed gold chunk, with a warning naming the file, the line and the tag.
    * `metadata`: `{"words": [...original tokens...]}`, and `"tags"`, the tags in
      `output_tag_scheme`, when there are tags.

    The data path is a file or a list of files (allennlp passes a `train_data_path` list
    through), read one after the other, e.g. a training and a dev file for training on both.
    The whole file is parsed and validated before the first instance is produced, so a
    malformed file raises `ConllFormatError` (naming the file, the line and what was
    expected) instead of yielding a partial dataset.

    # Parameters

    token_indexers : `Dict[str, TokenIndexer]`, optional
    token_column : `int`, optional (default = `0`)
        Column of the token (0-based; negative counts from the end).
    tag_column : `int`, optional (default = `-1`)
        Column of the tag; `None` reads tokens only.
    num_columns : `int`, optional
        Number of columns every token line must have. By default it is taken from the first
        token line of the file and every other line must match it.
    separator : `str`, optional
        Column separator; `None` (default) splits on any run of whitespace, `"\\t"` on tabs.
    tag_scheme : `str`, optional (default = `"IOB1"`)
        Scheme of the tags in the file: `IOB1`, `BIO` (= `IOB2`) or `BIOUL` (= `BIOES`).
    output_tag_scheme : `str`, optional (default = `"BIOUL"`)
        Scheme of the tags given to the model: `BIOUL` (BIOES with allennlp's letters U, L)
        or `BIO`.
    label_namespace : `str`, optional (default = `"labels"`)
    docstart_token : `str`, optional (default = `"-DOCSTART-"`)
        A line whose first column equals this is a document separator.
    split : `str`, optional (default = `"all"`)
        For data sets without a dev file (CoNLL-2000): `"held_out"` reads only a fixed random
        sample of `held_out_sentences` sentences (drawn with `held_out_seed`) of `split_file`,
        `"train"` reads all the others, `"all"` reads every sentence. Use `"train"` in
        `dataset_reader` and `"held_out"` in `validation_dataset_reader`, both on the training
        file.
    held_out_sentences : `int`, optional (default = `0`)
    held_out_seed : `int`, optional (default = `0`)
    split_file : `str`, optional
        The file `split` applies to (required with a `split`); every other file is read
        whole, so `allennlp evaluate` of a model trained this way scores the whole test file.
    heldout_sentences, heldout_seed : `int`, optional
        Deprecated aliases of `held_out_sentences` and `held_out_seed` (and `"heldout"` of the
        split `"held_out"`) for older configs and model archives, with a `FutureWarning`.
    """

    def __init__(
        self,
        token_indexers: Dict[str, TokenIndexer] = None,
        token_column: int = 0,
        tag_column: Optional[int] = -1,
        num_columns: Optional[int] = None,
        separator: Optional[str] = None,
        tag_scheme: str = "IOB1",
        output_tag_scheme: str = "BIOUL",
        label_namespace: str = "labels",
        docstart_token: str = "-DOCSTART-",
        split: str = "all",
        held_out_sentences: int = 0,
        held_out_seed: int = 0,
        split_file: Optional[str] = None,
        heldout_sentences: Optional[int] = None,
        heldout_seed: Optional[int] = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self._token_indexers = token_indexers or {
            "tokens": NormalizedSingleIdTokenIndexer(),
            "token_characters": CachedTokenCharactersIndexer(min_padding_length=3),
        }
        try:
            self._tag_scheme = canonical_scheme(tag_scheme, INPUT_SCHEMES)
            self._output_tag_scheme = canonical_scheme(output_tag_scheme, OUTPUT_SCHEMES)
        except ValueError as error:
            raise ConfigurationError(f"dataset_reader: {error}") from error
        if num_columns is not None and num_columns < 1:
            raise ConfigurationError("dataset_reader.num_columns must be at least 1")
        for key, column in (("token_column", token_column), ("tag_column", tag_column)):
            if column is not None and num_columns is not None and not (
                -num_columns <= column < num_columns
            ):
                raise ConfigurationError(
                    f"dataset_reader.{key} = {column} is outside the {num_columns} columns"
                )
        if split == "heldout":
            _warn_deprecated("split = 'heldout'", "split = 'held_out'")
            split = "held_out"
        held_out_sentences = _renamed_key(
            "heldout_sentences", heldout_sentences, "held_out_sentences", held_out_sentences
        )
        held_out_seed = _renamed_key("heldout_seed", heldout_seed, "held_out_seed", held_out_seed)
        if split not in ("all", "train", "held_out"):
            raise ConfigurationError(
                f"dataset_reader.split = {split!r}; expected 'all', 'train' or 'held_out'"
            )
        if split != "all" and held_out_sentences < 1:
            raise ConfigurationError(
                f"dataset_reader.split = {split!r} needs dataset_reader.held_out_sentences >= 1"
            )
        if split != "all" and not split_file:
            raise ConfigurationError(
                f"dataset_reader.split = {split!r} needs dataset_reader.split_file, the file to "
                "split (other files are read whole)"
            )
        self._split = split
        self._split_file = split_file
        self._held_out_sentences = held_out_sentences
        self._held_out_seed = held_out_seed
        self._token_column = token_column
        self._tag_column = tag_column
        self._num_columns = num_columns
        self._separator = separator
        self._label_namespace = label_namespace
        self._docstart_token = docstart_token

    def _read(self, file_path: Union[str, List[str]]) -> Iterable[Instance]:
        for each_path in [file_path] if isinstance(file_path, str) else file_path:
            yield from self._read_file(each_path)

    def _read_file(self, file_path: str) -> Iterable[Instance]:
        path = cached_path(file_path)
        sentences = self.read_sentences(path, display_path=file_path)
        split = self._split if self._is_split_file(path) else "all"
        sentences = self._select_split(sentences, split, file_path)
        logger.info("Read %d sentences (%s) from %s", len(sentences), split, file_path)
        for sentence in sentences:
            source = None
            if sentence.written_tags is not None:
                source = TagSource(file_path, sentence.line_numbers, sentence.written_tags)
            yield self.text_to_instance(sentence.tokens, sentence.tags, source)

    def _is_split_file(self, path: str) -> bool:
        if self._split_file is None:
            return False
        split_file = os.path.expanduser(self._split_file)
        try:
            return os.path.samefile(path, split_file)
        except OSError:  # the split file is not here (an archive evaluated elsewhere)
            return os.path.realpath(path) == os.path.realpath(split_file)

    def _select_split(
        self, sentences: List[ColumnSentence], split: str, name: str
    ) -> List[ColumnSentence]:
        if split == "all":
            return sentences
        if self._held_out_sentences >= len(sentences):
            raise ConllFormatError(
                name,
                None,
                f"held_out_sentences = {self._held_out_sentences} but the file has only "
                f"{len(sentences)} sentences",
            )
        held_out = set(
            random.Random(self._held_out_seed).sample(
                range(len(sentences)), self._held_out_sentences
            )
        )
        keep = split == "held_out"
        return [s for i, s in enumerate(sentences) if (i in held_out) == keep]

    def read_sentences(self, path: str, display_path: Optional[str] = None) -> List[ColumnSentence]:
        """Parses and validates the whole file; raises `ConllFormatError` on the first problem."""
        name = display_path or path
        try:
            # "utf-8-sig" drops a leading byte order mark. Lines end only at "\n", "\r\n" or
            # "\r" (universal newlines): str.splitlines would also end them at form feeds,
            # U+0085, U+2028 and other characters, splitting sentences at those.
            with open(path, "r", encoding="utf-8-sig") as handle:
                lines = handle.read().split("\n")
        except UnicodeDecodeError as error:
            # error.object is the whole file as the decoder got it (without a byte order mark).
            valid_bytes = error.object[: error.start]
            line_number = valid_bytes.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
            raise ConllFormatError(name, line_number, "the file is not valid UTF-8") from error
        sentences: List[ColumnSentence] = []
        current = ColumnSentence([], [], [])
        num_columns = self._num_columns
        for line_number, raw_line in enumerate(lines, start=1):
            line = raw_line.strip()
            if not line:
                self._close_sentence(current, sentences, name)
                current = ColumnSentence([], [], [])
                continue
            columns = line.split(self._separator)
            if self._separator is not None:
                columns = [column.strip() for column in columns]
            if columns[0] == self._docstart_token:
                self._close_sentence(current, sentences, name)
                current = ColumnSentence([], [], [])
                continue
            if num_columns is None:
                num_columns = len(columns)
                self._check_columns_exist(name, line_number, num_columns)
            if len(columns) != num_columns or any(not column for column in columns):
                raise ConllFormatError(
                    name,
                    line_number,
                    f"expected {num_columns} non-empty columns separated by "
                    f"{'whitespace' if self._separator is None else repr(self._separator)}, "
                    f"found {len(columns)}: {raw_line!r}",
                )
            current.tokens.append(columns[self._token_column])
            if self._tag_column is not None:
                current.tags.append(columns[self._tag_column])
            current.line_numbers.append(line_number)
        self._close_sentence(current, sentences, name)
        if not sentences:
            raise ConllFormatError(
                name, None, "no sentences found (the file is empty or holds only DOCSTART lines)"
            )
        return sentences

    def _check_columns_exist(self, name: str, line_number: int, num_columns: int) -> None:
        for key, column in (("token_column", self._token_column), ("tag_column", self._tag_column)):
            if column is not None and not (-num_columns <= column < num_columns):
                raise ConllFormatError(
                    name,
                    line_number,
                    f"{key} = {column} but the line has only {num_columns} columns",
                )

    def _close_sentence(
        self, sentence: ColumnSentence, sentences: List[ColumnSentence], name: str
    ) -> None:
        if not sentence.tokens:
            return
        if self._tag_column is not None:
            sentence.written_tags = sentence.tags
            try:
                sentence.tags = convert_tags(
                    sentence.tags, self._tag_scheme, self._output_tag_scheme
                )
            except TagSequenceError as error:
                raise ConllFormatError(
                    name, sentence.line_numbers[error.position], error.message
                ) from error
        sentences.append(sentence)

    def text_to_instance(  # type: ignore
        self,
        tokens: List[str],
        tags: Optional[List[str]] = None,
        source: Optional[TagSource] = None,
    ) -> Instance:
        """`tags` must already be in `output_tag_scheme`; `source` says where they were read."""
        text_field = TextField([Token(token) for token in tokens])
        metadata = {"words": list(tokens)}
        fields = {"tokens": text_field}
        if tags:
            metadata["tags"] = list(tags)
            fields["tags"] = GoldTagField(tags, text_field, self._label_namespace, source)
        fields["metadata"] = MetadataField(metadata)
        return Instance(fields)

    @property
    def token_indexers(self) -> Dict[str, TokenIndexer]:
        """The indexers of the `tokens` field, by name."""
        return self._token_indexers

    @token_indexers.setter
    def token_indexers(self, indexers: Dict[str, TokenIndexer]) -> None:
        self._token_indexers = indexers

    def apply_token_indexers(self, instance: Instance) -> None:
        instance.fields["tokens"]._token_indexers = self._token_indexers  # type: ignore


def _warn_deprecated(old: str, new: str) -> None:
    warnings.warn(f"dataset_reader.{old} is deprecated: use {new}", FutureWarning, stacklevel=3)


def _renamed_key(old: str, old_value: Optional[int], new: str, new_value: int) -> int:
    """The value of the key `new`, or of its deprecated name `old` where that is given."""
    if old_value is None:
        return new_value
    if new_value != 0:
        raise ConfigurationError(f"dataset_reader: give {new} only ({old} is its deprecated name)")
    _warn_deprecated(old, new)
    return old_value
