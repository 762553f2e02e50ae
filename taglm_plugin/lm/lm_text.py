import glob
import html
import itertools
import logging
import re
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Dict, Iterable, Iterator, List, Optional, Tuple

import spacy
from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.data.dataset_readers.dataset_reader import DatasetReader
from allennlp.data.fields import TextField
from allennlp.data.instance import Instance
from allennlp.data.token_indexers import (
    ELMoTokenCharactersIndexer,
    SingleIdTokenIndexer,
    TokenIndexer,
)
from allennlp.data.tokenizers import Token

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.common.conll_tokenizer import conll_like_english
from taglm_plugin.common.file_errors import DataFileError
from taglm_plugin.lm.conventions import DIRECTIONS

logger = logging.getLogger(__name__)

# The next-token target of the last word of every sentence.
END_OF_SENTENCE = "</S>"

SPLITS = ("all", "train", "held_out")

_DOC_START = re.compile(r"<doc(\s[^>]*)?>")
_DOC_TITLE = re.compile(r'\stitle="([^"]*)"')
_DOC_END = "</doc>"
# HTML-like tags that WikiExtractor leaves in the text (`<poem>`, `</dl>`, ...).
_LEFTOVER_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>")


class LmTextFormatError(DataFileError):
    """Unreadable language-model text; the message names the file (and archive member) and
    the line."""


@dataclass
class TextDocument:
    """One WikiExtractor `<doc>` (markup and title line removed) or one line of plain text."""

    line_number: int
    paragraphs: List[str]


def input_paths(file_path: str) -> List[str]:
    """
    The files a data path names: itself, or the files a glob pattern matches, sorted; a
    `ConfigurationError` if a pattern matches none.
    """
    if not glob.has_magic(file_path):
        return [file_path]
    paths = sorted(glob.glob(file_path))
    if not paths:
        raise ConfigurationError(
            f"No file matches {file_path} (train_data_path / validation_data_path)"
        )
    return paths


@DatasetReader.register("taglm_lm_text")
class LmTextReader(ChecksConfigKeys, DatasetReader):
    """
    Reads unlabeled English text for language-model pretraining, lazily (a document at a
    time), so corpora of any size stream through allennlp's `MultiProcessDataLoader` (use
    `max_instances_in_memory`; with `num_workers > 1` the workers share the documents).

    `file_path` is a file or a glob pattern (e.g. `data/enwiki-*.tar.gz`, files taken in
    sorted order). A file that is a tar archive (any compression `tarfile` reads) is read
    member by member in archive order. Each file or member is either

    * WikiExtractor output, recognised by its first non-blank line starting with `<doc`:
      `<doc id=.. url=.. title=..>` ... `</doc>` blocks. The doc tags, leftover HTML-like tags
      and the title line that WikiExtractor repeats as the first line of a document are
      removed; every other non-blank line is a paragraph. Text outside a `<doc>`, a `<doc>`
      inside another or never closed, and a stray `</doc>` are errors; or
    * plain text: one sentence or paragraph per line; every non-blank line is a document.

    Paragraphs are split into sentences and tokenized by `conll_like_english()`; case and
    characters are kept as they are (the character CNN sees the raw characters).

    Each sentence `w_1 ... w_n` (at most `max_sentence_length` tokens; longer ones are
    skipped) becomes an `Instance` with

    * `tokens`: `TextField` of the sentence in the LM's reading order: `w_1 ... w_n` for
      `direction="forward"`, `w_n ... w_1` for `"backward"`. Indexed by `token_indexers`
      (default `{"elmo": ELMoTokenCharactersIndexer()}`: vocabulary-free character ids).
    * `targets`: `TextField` of the same tokens followed by `</S>` (n + 1 tokens), indexed
      into the `target_namespace` vocabulary. The LM reads a start-of-sentence state and then
      `tokens`; its output after `i` tokens predicts `targets[i]`, so `targets` is the
      sentence itself (first word included) plus the end of the sentence (for a backward LM:
      the reversed sentence, ending with the symbol after its first word).

    Held-out split: with `held_out_every = N`, documents `0, N, 2N, ...` (counted over the whole
    `file_path`, in reading order) are held out. `split` picks `"train"` (all other
    documents), `"held_out"`, or `"all"`, so the same file can give training and validation
    data that share no document.

    # Parameters

    direction : `str`, optional (default = `"forward"`)
        `"forward"` or `"backward"` (each sentence's tokens reversed).
    token_indexers : `Dict[str, TokenIndexer]`, optional
        Indexers of the `tokens` field (the LM's input).
    target_namespace : `str`, optional (default = `"lm_targets"`)
        Vocabulary namespace of the `targets` field (the LM's softmax vocabulary).
    max_sentence_length : `int`, optional (default = `None`)
        Sentences with more tokens are skipped (and counted in the log).
    held_out_every : `int`, optional (default = `None`)
        Every `held_out_every`-th document is held out. Required unless `split == "all"`.
    split : `str`, optional (default = `"all"`)
        `"all"`, `"train"` or `"held_out"`.
    """

    def __init__(
        self,
        direction: str = "forward",
        token_indexers: Optional[Dict[str, TokenIndexer]] = None,
        target_namespace: str = "lm_targets",
        max_sentence_length: Optional[int] = None,
        held_out_every: Optional[int] = None,
        split: str = "all",
        **kwargs,
    ) -> None:
        super().__init__(
            manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs
        )
        if direction not in DIRECTIONS:
            raise ConfigurationError(
                f"dataset_reader.direction must be one of {DIRECTIONS}, got {direction!r}"
            )
        if split not in SPLITS:
            raise ConfigurationError(
                f"dataset_reader.split must be one of {SPLITS}, got {split!r}"
            )
        if held_out_every is not None and held_out_every < 2:
            raise ConfigurationError(
                f"dataset_reader.held_out_every must be at least 2, got {held_out_every}"
            )
        if split != "all" and held_out_every is None:
            raise ConfigurationError(
                f"dataset_reader.split = {split!r} needs dataset_reader.held_out_every"
            )
        if max_sentence_length is not None and max_sentence_length < 1:
            raise ConfigurationError(
                "dataset_reader.max_sentence_length must be at least 1, "
                f"got {max_sentence_length}"
            )
        self.direction = direction
        self.token_indexers = token_indexers or {"elmo": ELMoTokenCharactersIndexer()}
        self._target_indexers = {target_namespace: SingleIdTokenIndexer(target_namespace)}
        self._max_sentence_length = max_sentence_length
        self._held_out_every = held_out_every
        self._split = split
        self._nlp = conll_like_english()

    def _read(self, file_path: str) -> Iterable[Instance]:
        documents = (
            (index, document)
            for index, document in enumerate(self._documents(file_path))
            if self.in_split(index)
        )
        num_sentences = 0
        num_too_long = 0
        for _, tokens in self._sentences(self.shard_iterable(documents)):
            if self._max_sentence_length is not None and len(tokens) > self._max_sentence_length:
                num_too_long += 1
                continue
            num_sentences += 1
            yield self.text_to_instance(tokens)
        if num_too_long:
            logger.info(
                "Skipped %d of %d sentences of %s longer than max_sentence_length = %d",
                num_too_long,
                num_sentences + num_too_long,
                file_path,
                self._max_sentence_length,
            )
        sharded = self.get_worker_info() is not None or self.get_distributed_info() is not None
        if num_sentences == 0 and not sharded:
            raise ConfigurationError(self.nothing_selected_message(file_path))

    def nothing_selected_message(self, file_path: str) -> str:
        return (
            f"No sentences selected from {file_path} (split = {self._split!r}, "
            f"held_out_every = {self._held_out_every}, "
            f"max_sentence_length = {self._max_sentence_length})"
        )

    def document_sentences(self, file_path: str) -> Iterator[Tuple[int, List[str]]]:
        """
        `(document index, tokens)` for every sentence of every document of `file_path`, in
        reading order and natural (left-to-right) token order, whatever `split`,
        `max_sentence_length` and `direction` (what `taglm_lm_cache` stores once).
        """
        return self._sentences(self.documents(file_path))

    def documents(self, file_path: str) -> Iterator[Tuple[int, TextDocument]]:
        """`(document index, document)` for every document of `file_path`, in reading order;
        `sentences_of` tokenizes them."""
        return enumerate(self._documents(file_path))

    def in_split(self, document_index):
        """
        Whether documents with these indices (counted over the whole `file_path`) are in
        `split`: an `int` gives a `bool`, an integer numpy array an elementwise boolean array.
        """
        if self._split == "all":
            return document_index >= 0
        held_out = document_index % self._held_out_every == 0  # type: ignore
        return held_out == (self._split == "held_out")

    @property
    def split(self) -> str:
        return self._split

    @property
    def max_sentence_length(self) -> Optional[int]:
        return self._max_sentence_length

    @property
    def target_indexers(self) -> Dict[str, TokenIndexer]:
        """The indexer of the `targets` field, by its key (the target namespace)."""
        return self._target_indexers

    def text_to_instance(self, tokens: List[str]) -> Instance:  # type: ignore
        """`tokens` is one sentence in its natural (left-to-right) order."""
        in_reading_order = tokens[::-1] if self.direction == "backward" else tokens
        ordered = [Token(token) for token in in_reading_order]
        return Instance(
            {
                "tokens": TextField(ordered),
                "targets": TextField(ordered + [Token(END_OF_SENTENCE)]),
            }
        )

    def apply_token_indexers(self, instance: Instance) -> None:
        instance.fields["tokens"]._token_indexers = self.token_indexers  # type: ignore
        instance.fields["targets"]._token_indexers = self._target_indexers  # type: ignore

    def _sentences(
        self, documents: Iterable[Tuple[int, TextDocument]]
    ) -> Iterator[Tuple[int, List[str]]]:
        return sentences_of(self._nlp, documents)

    def _documents(self, file_path: str) -> Iterator[TextDocument]:
        for path in input_paths(file_path):
            local_path = cached_path(path)
            if tarfile.is_tarfile(local_path):
                yield from _archive_documents(local_path, display_path=path)
            else:
                with open(local_path, "rb") as handle:
                    yield from _file_documents(handle, display_path=path)


def sentences_of(
    nlp: spacy.language.Language, documents: Iterable[Tuple[int, TextDocument]]
) -> Iterator[Tuple[int, List[str]]]:
    """`(document index, tokens)` of each sentence of `(document index, document)` pairs,
    split and tokenized by `nlp` (the reader's `conll_like_english` pipeline)."""
    paragraphs = (
        (paragraph, index) for index, document in documents for paragraph in document.paragraphs
    )
    for parsed, index in nlp.pipe(paragraphs, batch_size=256, as_tuples=True):
        for sentence in parsed.sents:
            tokens = [token.text for token in sentence if not token.is_space]
            if tokens:
                yield index, tokens


def _archive_documents(path: str, display_path: str) -> Iterator[TextDocument]:
    num_members = 0
    # Stream mode: members are decompressed in order, without seeking.
    with tarfile.open(path, mode="r|*") as archive:
        for member in archive:
            if not member.isfile():
                continue
            num_members += 1
            handle = archive.extractfile(member)
            assert handle is not None
            yield from _file_documents(handle, f"{display_path}[{member.name}]")
    if num_members == 0:
        raise LmTextFormatError(display_path, None, "the archive contains no files")


def _file_documents(handle: BinaryIO, display_path: str) -> Iterator[TextDocument]:
    """WikiExtractor documents if the first non-blank line starts with `<doc`, else lines."""
    lines = _decoded_lines(handle, display_path)
    for first_line in lines:
        if first_line[1].strip():
            break
    else:
        raise LmTextFormatError(display_path, None, "no text found (the file is empty)")
    lines = itertools.chain([first_line], lines)
    if first_line[1].lstrip().startswith("<doc"):
        yield from _wikiextractor_documents(lines, display_path)
    else:
        for number, line in lines:
            if line.strip():
                yield TextDocument(number, [line.strip()])


def _decoded_lines(handle: BinaryIO, display_path: str) -> Iterator[Tuple[int, str]]:
    for number, raw_line in enumerate(handle, start=1):
        try:
            yield number, raw_line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise LmTextFormatError(
                display_path, number, f"the line is not valid UTF-8 ({error.reason})"
            ) from error


def _wikiextractor_documents(
    lines: Iterable[Tuple[int, str]], display_path: str
) -> Iterator[TextDocument]:
    """Parses `<doc ...>` ... `</doc>` blocks into documents without markup or title line."""
    document: Optional[TextDocument] = None
    title: Optional[str] = None
    for number, line in lines:
        text = line.strip()
        if _DOC_START.fullmatch(text):
            if document is not None:
                raise LmTextFormatError(
                    display_path,
                    number,
                    f"<doc> inside the <doc> opened at line {document.line_number}",
                )
            title_match = _DOC_TITLE.search(text)
            title = html.unescape(title_match.group(1)).strip() if title_match else None
            document = TextDocument(number, [])
        elif text == _DOC_END:
            if document is None:
                raise LmTextFormatError(display_path, number, "</doc> without an open <doc>")
            yield document
            document = None
        elif document is None:
            if text:
                raise LmTextFormatError(
                    display_path, number, f"text outside <doc> ... </doc>: {text[:60]!r}"
                )
        else:
            paragraph = _LEFTOVER_TAG.sub(" ", text).strip()
            if paragraph and title is not None and paragraph == title:
                # WikiExtractor repeats the title as the first line of the document.
                title = None
            elif paragraph:
                document.paragraphs.append(paragraph)
                title = None
    if document is not None:
        raise LmTextFormatError(
            display_path,
            document.line_number,
            "<doc> is never closed (no </doc> before the end of the file)",
        )
