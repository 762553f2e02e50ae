"""
The tokenized text of a `taglm_lm_text` input, computed once and stored as numpy arrays, so
that LM training (`taglm_lm_cache` data loader) does no tokenization or per-token Python work
per epoch.
"""
import array
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, List

import numpy
import spacy
from allennlp.common.checks import ConfigurationError

from taglm_plugin.dataset_readers.lm_text import LmTextReader, input_paths

logger = logging.getLogger(__name__)

# Bump when the reader's document parsing or tokenization changes: old caches are then
# ignored (their key differs).
CACHE_FORMAT_VERSION = 1


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

    def sentence(self, index: int) -> List[str]:
        tokens = self.token_types[self.sentence_starts[index] : self.sentence_starts[index + 1]]
        return [self.types[token] for token in tokens]

    @classmethod
    def build(cls, reader: LmTextReader, file_path: str) -> "LmTokenCache":
        """Reads and tokenizes `file_path` with `reader` (its per-token Python work, once)."""
        type_index: Dict[str, int] = {}
        token_types = array.array("i")
        sentence_starts = array.array("q", [0])
        sentence_documents = array.array("i")
        for document, tokens in reader.document_sentences(file_path):
            token_types.extend([type_index.setdefault(token, len(type_index)) for token in tokens])
            sentence_starts.append(len(token_types))
            sentence_documents.append(document)
        return cls(
            types=list(type_index),
            token_types=numpy.frombuffer(token_types, dtype=numpy.int32).copy(),
            sentence_starts=numpy.frombuffer(sentence_starts, dtype=numpy.int64).copy(),
            sentence_documents=numpy.frombuffer(sentence_documents, dtype=numpy.int32).copy(),
        )

    def save(self, path: str, key: str) -> None:
        """Writes an `.npz` file atomically (a temporary file renamed), recording `key`."""
        encoded = [token.encode("utf-8") for token in self.types]
        type_offsets = numpy.zeros(len(encoded) + 1, dtype=numpy.int64)
        numpy.cumsum([len(token) for token in encoded], out=type_offsets[1:])
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as output:
                numpy.savez(
                    output,
                    key=numpy.array(key),
                    type_bytes=numpy.frombuffer(b"".join(encoded), dtype=numpy.uint8),
                    type_offsets=type_offsets,
                    token_types=self.token_types,
                    sentence_starts=self.sentence_starts,
                    sentence_documents=self.sentence_documents,
                )
            os.replace(temporary, path)
        except BaseException:
            os.remove(temporary)
            raise

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
        cls, reader: LmTextReader, file_path: str, cache_directory: str
    ) -> "LmTokenCache":
        """
        The cache of `file_path` in `cache_directory` (`lm_tokens-<key hash>.npz`), built and
        saved first if it is not there. The key covers the input files (paths, sizes,
        modification times), spaCy's version and `CACHE_FORMAT_VERSION`; a changed input gets
        a new file.
        """
        key = cache_key(file_path)
        path = os.path.join(
            cache_directory, f"lm_tokens-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
        )
        if os.path.exists(path):
            logger.info("Reading the token cache %s of %s", path, file_path)
            return cls.load(path, key)
        logger.info("Tokenizing %s into the token cache %s (once)", file_path, path)
        start = time.monotonic()
        cache = cls.build(reader, file_path)
        cache.save(path, key)
        logger.info(
            "Token cache of %s: %d sentences, %d tokens, %d types in %.1f s",
            file_path,
            cache.num_sentences,
            len(cache.token_types),
            len(cache.types),
            time.monotonic() - start,
        )
        return cache


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
