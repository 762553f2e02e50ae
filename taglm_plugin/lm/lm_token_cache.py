"""
The tokenized text of a `taglm_lm_text` input, computed once and stored as numpy arrays, so
that LM training (`taglm_lm_cache` data loader) does no tokenization or per-token Python work
per epoch.
"""
import array
import collections
import hashlib
import json
import logging
import multiprocessing
import os
import time
import weakref
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Deque, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy
import spacy
from allennlp.common.checks import ConfigurationError

from taglm_plugin.common.atomic_files import atomic_output
from taglm_plugin.common.conll_tokenizer import conll_like_english
from taglm_plugin.common.cpu_cores import cpu_cores
from taglm_plugin.lm.lm_text import (
    LmTextReader,
    TextDocument,
    input_paths,
    sentences_of,
)

logger = logging.getLogger(__name__)

# Bump when the reader's document parsing or tokenization changes: old caches are then
# ignored (their key differs).
CACHE_FORMAT_VERSION = 1
# Characters of text tokenized at a time, by one process (~100k tokens).
CHARACTERS_PER_CHUNK = 500_000
# The caches that `load_or_build` returned and something in this process still holds, by
# (cache file, key): `allennlp train`'s training and validation loaders and the
# `taglm_lm_token_cache` vocabulary share one, read or built once.
_held_caches: "weakref.WeakValueDictionary[Tuple[str, str], LmTokenCache]" = (
    weakref.WeakValueDictionary()
)


@dataclass
class LmTokenCache:
    """
    Every sentence of every document of an input (`LmTextReader.document_sentences`: all
    documents, natural token order; the split, length limit and direction are applied by the
    user of the cache).

    * `types`: the distinct token strings, in order of first occurrence;
    * `token_types`: `(num_tokens,)` int32, the index in `types` of every token, sentence after
      sentence;
    * `sentence_starts`: `(num_sentences + 1,)` int64, where each sentence starts in
      `token_types` (and where the last one ends);
    * `sentence_documents`: `(num_sentences,)` int32, the index of each sentence's document
      (counted over the whole input, as `LmTextReader.in_split` expects).
    """

    types: List[str]
    token_types: numpy.ndarray
    sentence_starts: numpy.ndarray
    sentence_documents: numpy.ndarray

    @property
    def num_sentences(self) -> int:
        return len(self.sentence_documents)

    def sentence_lengths(self) -> numpy.ndarray:
        """`(num_sentences,)` int64 numbers of tokens."""
        return numpy.diff(self.sentence_starts)

    def selected_sentences(self, reader: LmTextReader) -> Tuple[numpy.ndarray, int]:
        """The indices of the sentences in `reader`'s split and within its
        `max_sentence_length`, in input order, and the number in its split."""
        selected = reader.in_split(self.sentence_documents)
        in_split = int(selected.sum())
        if reader.max_sentence_length is not None:
            selected &= self.sentence_lengths() <= reader.max_sentence_length
        return numpy.flatnonzero(selected), in_split

    def sentence(self, index: int) -> List[str]:
        tokens = self.token_types[self.sentence_starts[index] : self.sentence_starts[index + 1]]
        return [self.types[token] for token in tokens]

    @classmethod
    def build(
        cls,
        reader: LmTextReader,
        file_path: str,
        processes: int = 1,
        characters_per_chunk: int = CHARACTERS_PER_CHUNK,
    ) -> "LmTokenCache":
        """
        Reads and tokenizes `file_path` with `reader` (its per-token Python work, once). The
        documents are tokenized in chunks of about `characters_per_chunk` characters (whole
        documents), in `processes` processes when more than one (0: one per CPU core, see
        `cpu_cores`); the result does not depend on either.
        """
        processes = processes or cpu_cores()
        chunks = _chunks(reader.documents(file_path), characters_per_chunk)
        type_index: Dict[str, int] = {}
        token_types: List[numpy.ndarray] = []
        sentence_lengths: List[numpy.ndarray] = []
        sentence_documents: List[numpy.ndarray] = []

        def add(chunk: _TokenizedChunk) -> None:
            # The chunk's own type numbers, renumbered in the order of first occurrence overall.
            renumbered = numpy.array(
                [type_index.setdefault(token, len(type_index)) for token in chunk.types],
                dtype=numpy.int32,
            )
            token_types.append(renumbered[chunk.token_types])
            sentence_lengths.append(chunk.sentence_lengths)
            sentence_documents.append(chunk.sentence_documents)

        if processes == 1:
            nlp = conll_like_english()
            for chunk in chunks:
                add(_tokenize(nlp, chunk))
        else:
            # fork where there is one (as torch's DataLoader workers on Linux): nothing is
            # imported again, and the processes only run spaCy (no CUDA, no OpenMP). A process
            # that dies (e.g. out of memory) fails the build (`BrokenProcessPool`).
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            with ProcessPoolExecutor(
                processes, mp_context=context, initializer=_start_tokenizing_process
            ) as pool:
                # The documents are read here, so that a malformed file raises its error
                # (naming the file and line) in this process; at most two chunks per process
                # wait to be tokenized.
                waiting: Deque[Future] = collections.deque()
                for chunk in chunks:
                    waiting.append(pool.submit(_tokenize_in_process, chunk))
                    if len(waiting) >= 2 * processes:
                        add(waiting.popleft().result())
                while waiting:
                    add(waiting.popleft().result())
        lengths = numpy.concatenate([numpy.zeros(1, dtype=numpy.int64), *sentence_lengths])
        return cls(
            types=list(type_index),
            token_types=numpy.concatenate([numpy.zeros(0, dtype=numpy.int32), *token_types]),
            sentence_starts=numpy.cumsum(lengths, dtype=numpy.int64),
            sentence_documents=numpy.concatenate(
                [numpy.zeros(0, dtype=numpy.int32), *sentence_documents]
            ),
        )

    def save(self, path: str, key: str) -> None:
        """Writes an `.npz` file atomically (a temporary file renamed), recording `key`."""
        encoded = [token.encode("utf-8") for token in self.types]
        type_offsets = numpy.zeros(len(encoded) + 1, dtype=numpy.int64)
        numpy.cumsum([len(token) for token in encoded], out=type_offsets[1:])
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_output(path, "wb") as output:
            numpy.savez(
                output,
                key=numpy.array(key),
                type_bytes=numpy.frombuffer(b"".join(encoded), dtype=numpy.uint8),
                type_offsets=type_offsets,
                token_types=self.token_types,
                sentence_starts=self.sentence_starts,
                sentence_documents=self.sentence_documents,
            )

    @classmethod
    def load(cls, path: str, key: str) -> "LmTokenCache":
        """Reads a file written by `save`; `ValueError` if it was written for another `key`."""
        with numpy.load(path) as arrays:
            if str(arrays["key"]) != key:
                raise ValueError(f"{path} is the token cache of another input: {arrays['key']}")
            type_bytes = arrays["type_bytes"].tobytes()
            offsets = arrays["type_offsets"]
            return cls(
                types=[
                    type_bytes[start:end].decode("utf-8")
                    for start, end in zip(offsets[:-1], offsets[1:])
                ],
                token_types=arrays["token_types"],
                sentence_starts=arrays["sentence_starts"],
                sentence_documents=arrays["sentence_documents"],
            )

    @classmethod
    def load_or_build(
        cls, reader: LmTextReader, file_path: str, cache_directory: str, processes: int = 1
    ) -> "LmTokenCache":
        """
        The cache of `file_path` in `cache_directory` (`lm_tokens-<key hash>.npz`), built (by
        `processes` processes, see `build`) and saved first if it is not there. The key covers
        the input files (paths, sizes, modification times), spaCy's version and
        `CACHE_FORMAT_VERSION`; a changed input gets a new file. While a cache it returned is
        held in this process, the same file and key give that cache again, without reading.
        """
        key = cache_key(file_path)
        path = os.path.join(
            cache_directory, f"lm_tokens-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
        )
        held_key = (os.path.abspath(path), key)
        held = _held_caches.get(held_key)
        if held is not None:
            return held
        if os.path.exists(path):
            logger.info("Reading the token cache %s of %s", path, file_path)
            cache = cls.load(path, key)
        else:
            cache = cls._build_and_save(reader, file_path, path, key, processes)
        _held_caches[held_key] = cache
        return cache

    @classmethod
    def _build_and_save(
        cls, reader: LmTextReader, file_path: str, path: str, key: str, processes: int
    ) -> "LmTokenCache":
        """`build`s the cache of `file_path` and `save`s it to `path` under `key`, logged."""
        logger.info("Tokenizing %s into the token cache %s (once)", file_path, path)
        start = time.monotonic()
        processes = processes or cpu_cores()
        cache = cls.build(reader, file_path, processes)
        cache.save(path, key)
        logger.info(
            "Token cache of %s: %d sentences, %d tokens, %d types in %.1f s (%d processes)",
            file_path,
            cache.num_sentences,
            len(cache.token_types),
            len(cache.types),
            time.monotonic() - start,
            processes,
        )
        return cache


@dataclass
class _TokenizedChunk:
    """The sentences of some consecutive documents, with the chunk's own type numbers:
    `types` in order of first occurrence in the chunk, `token_types` `(num_tokens,)` int32
    indices into it, `sentence_lengths` and `sentence_documents` `(num_sentences,)`."""

    types: List[str]
    token_types: numpy.ndarray
    sentence_lengths: numpy.ndarray
    sentence_documents: numpy.ndarray


def _chunks(
    documents: Iterable[Tuple[int, TextDocument]], characters_per_chunk: int
) -> Iterator[List[Tuple[int, TextDocument]]]:
    """Consecutive documents, cut into chunks of at least `characters_per_chunk` characters
    (the last one shorter)."""
    chunk: List[Tuple[int, TextDocument]] = []
    characters = 0
    for document in documents:
        chunk.append(document)
        characters += sum(len(paragraph) for paragraph in document[1].paragraphs)
        if characters >= characters_per_chunk:
            yield chunk
            chunk, characters = [], 0
    if chunk:
        yield chunk


def _tokenize(
    nlp: spacy.language.Language, documents: List[Tuple[int, TextDocument]]
) -> _TokenizedChunk:
    type_index: Dict[str, int] = {}
    token_types = array.array("i")
    sentence_lengths = array.array("q")
    sentence_documents = array.array("i")
    for document, tokens in sentences_of(nlp, documents):
        token_types.extend([type_index.setdefault(token, len(type_index)) for token in tokens])
        sentence_lengths.append(len(tokens))
        sentence_documents.append(document)
    return _TokenizedChunk(
        types=list(type_index),
        token_types=numpy.frombuffer(token_types, dtype=numpy.int32).copy(),
        sentence_lengths=numpy.frombuffer(sentence_lengths, dtype=numpy.int64).copy(),
        sentence_documents=numpy.frombuffer(sentence_documents, dtype=numpy.int32).copy(),
    )


# The spaCy pipeline of a tokenizing process (`LmTokenCache.build` with processes > 1).
_process_nlp: Optional[spacy.language.Language] = None


def _start_tokenizing_process() -> None:
    global _process_nlp
    _process_nlp = conll_like_english()


def _tokenize_in_process(documents: List[Tuple[int, TextDocument]]) -> _TokenizedChunk:
    assert _process_nlp is not None
    return _tokenize(_process_nlp, documents)


def cache_key(file_path: str) -> str:
    """JSON naming what the tokens of `file_path` depend on (see `load_or_build`)."""
    files = []
    for path in input_paths(file_path):
        if not os.path.isfile(path):
            raise ConfigurationError(
                f"train_data_path / validation_data_path {path!r}: taglm_lm_cache reads local "
                "files only (no such file)"
            )
        status = os.stat(path)
        files.append([os.path.abspath(path), status.st_size, status.st_mtime_ns])
    return json.dumps(
        {"format": CACHE_FORMAT_VERSION, "spacy": spacy.__version__, "files": files},
        sort_keys=True,
    )
