import logging
from typing import List, Optional

import numpy
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.modules.token_embedders.token_embedder import TokenEmbedder

from taglm_plugin.common.config_keys import ChecksConfigKeys
from taglm_plugin.tagging.pretrained_vectors import load_pretrained_vectors
from taglm_plugin.tagging.tagger_vocabulary import PRETRAINED_NAMESPACE
from taglm_plugin.training.reloaded_state import fill_reloaded_state

logger = logging.getLogger(__name__)

FINE_TUNING = ("residual", "vectors", "frozen")
# Ids of both namespaces (allennlp's padded namespaces).
PADDING, OOV = 0, 1
# What `word_kinds` gives each token.
KIND_PADDING, KIND_TRAINING, KIND_PRETRAINED, KIND_UNKNOWN = 0, 1, 2, 3


def word_kinds(tokens: torch.LongTensor, pretrained_tokens: torch.LongTensor) -> torch.LongTensor:
    """
    Which vector each token uses, `(batch_size, num_tokens)`: `KIND_TRAINING` (a word of the
    training vocabulary), `KIND_PRETRAINED` (not in it, but with a pretrained vector),
    `KIND_UNKNOWN` (neither: the trained unknown-word vector) or `KIND_PADDING`.
    """
    kinds = torch.full_like(tokens, KIND_UNKNOWN)
    kinds[(tokens == OOV) & (pretrained_tokens > OOV)] = KIND_PRETRAINED
    kinds[tokens > OOV] = KIND_TRAINING
    kinds[tokens == PADDING] = KIND_PADDING
    return kinds


@TokenEmbedder.register("taglm_word_embedding")
class TaglmWordEmbedding(ChecksConfigKeys, TokenEmbedder):
    """
    Word embeddings from two tables: a frozen table of every pretrained vector (the
    `tagger_vocabulary`'s `pretrained_namespace`, e.g. all 400k GloVe 6B words) and a
    trainable table of the training vocabulary (`vocab_namespace`). Input: the
    `normalized_single_id` indexer's `tokens` and `pretrained_tokens`, each `(batch_size,
    num_tokens)`; output `(batch_size, num_tokens, embedding_dim)`.

    A word of the training vocabulary gets its fine-tuned vector, a word that is not in it but
    has a pretrained vector gets that vector, any other word the trained unknown-word vector
    (the OOV row of the trainable table). How the fine-tuned vectors and the pretrained-only
    ones stay in one space is `fine_tuning`:

    * `"residual"`: `e(w) = W p(w) + d(w)` with `p(w)` the frozen pretrained vector (zero if
      none), `W` a trainable `embedding_dim x embedding_dim` map shared by all words
      (initialized to the identity) and `d(w)` a trainable per-word correction of the training
      words (initialized to zero; to a random vector for training words without a pretrained
      vector). A word never seen in training gets `W p(w)`: the shared part of the
      fine-tuning moves it with the training words.
    * `"vectors"`: the paper's plain fine-tuning: the vector of a training word is trainable,
      initialized to its pretrained vector; other words get the pretrained vector unchanged.
    * `"frozen"`: no fine-tuning: every word with a pretrained vector, in training or not,
      gets that vector unchanged; only the vectors of training words without one (and the
      unknown-word vector) are trained.

    `word_dropout`: in training, each token of a training word is treated with this
    probability as a word never seen in training (its pretrained vector, or the unknown-word
    vector when it has none), so that the tagger learns from those vectors and the
    unknown-word vector is trained. `rare_word_dropout` is that probability for the rarest
    `rare_word_share` of the training word types instead (Lample et al. (2016) replace
    singletons with the unknown word at 0.5): the words a tagger sees never-seen at test time
    are mostly rare ones, and uniform word dropout mostly hits frequent words. Rarity is the
    word's place in the vocabulary, which allennlp orders by training count (most frequent
    first), so it is the same in training, `--recover`, distributed workers and archives.

    `pretrained_file` is read only when the model is built for training; an archived model
    keeps both tables in its weights and needs no file. Built from the file, the frozen table
    is left out of training checkpoints (`reloaded_state`, `taglm_plugin.training.reloaded_state`).
    """

    def __init__(
        self,
        vocab: Vocabulary,
        embedding_dim: int,
        pretrained_file: Optional[str] = None,
        vocab_namespace: str = "tokens",
        pretrained_namespace: str = PRETRAINED_NAMESPACE,
        fine_tuning: str = "vectors",
        word_dropout: float = 0.0,
        rare_word_dropout: Optional[float] = None,
        rare_word_share: float = 0.5,
    ) -> None:
        super().__init__()
        if fine_tuning not in FINE_TUNING:
            raise ConfigurationError(
                f"fine_tuning must be one of {FINE_TUNING}, got {fine_tuning!r}"
            )
        rates = {"word_dropout": word_dropout, "rare_word_dropout": rare_word_dropout}
        for key, value in rates.items():
            if value is not None and not 0.0 <= value < 1.0:
                raise ConfigurationError(f"{key} must be in [0, 1), got {value}")
        if not 0.0 < rare_word_share <= 1.0:
            raise ConfigurationError(f"rare_word_share must be in (0, 1], got {rare_word_share}")
        self.embedding_dim = embedding_dim
        self.fine_tuning = fine_tuning
        self.word_dropout = word_dropout
        self.rare_word_dropout = word_dropout if rare_word_dropout is None else rare_word_dropout
        num_words = vocab.get_vocab_size(vocab_namespace)
        # The first id of the rarest `rare_word_share` of the training words (ids > OOV).
        self.first_rare_id = num_words - round(rare_word_share * max(num_words - OOV - 1, 0))
        num_pretrained = vocab.get_vocab_size(pretrained_namespace)
        pretrained = torch.zeros(num_pretrained, embedding_dim)
        weight = torch.zeros(num_words, embedding_dim)
        if pretrained_file is not None:
            if num_pretrained <= OOV + 1:
                raise ConfigurationError(
                    f"the vocabulary has no words in namespace {pretrained_namespace!r}: set "
                    f"vocabulary.type to 'tagger_vocabulary' with pretrained_file "
                    f"{pretrained_file!r}"
                )
            pretrained = self._read_pretrained(
                pretrained_file, vocab.get_index_to_token_vocabulary(pretrained_namespace)
            )
            weight = self._initial_weight(
                vocab, vocab_namespace, pretrained_namespace, pretrained
            )
        # Frozen and saved with the weights (archives rebuild the model without the file).
        self.register_buffer("pretrained", pretrained)
        self._pretrained_from_file = pretrained_file is not None
        self.weight = torch.nn.Parameter(weight)
        self.projection = (
            torch.nn.Parameter(torch.eye(embedding_dim)) if fine_tuning == "residual" else None
        )

    def _read_pretrained(self, pretrained_file: str, words: dict) -> torch.Tensor:
        file_words, vectors = load_pretrained_vectors(pretrained_file)
        if vectors.shape[1] != self.embedding_dim:
            raise ConfigurationError(
                f"embedding_dim = {self.embedding_dim}, but the vectors of {pretrained_file} "
                f"have {vectors.shape[1]} dimensions"
            )
        row_of_word = {}
        for row, word in enumerate(file_words):
            row_of_word.setdefault(word, row)
        ids = [index for index in words if words[index] in row_of_word]
        table = numpy.zeros((len(words), self.embedding_dim), dtype=numpy.float32)
        table[ids] = vectors[[row_of_word[words[index]] for index in ids]]
        return torch.from_numpy(table)

    def _initial_weight(
        self,
        vocab: Vocabulary,
        vocab_namespace: str,
        pretrained_namespace: str,
        pretrained: torch.Tensor,
    ) -> torch.Tensor:
        """
        The trainable table: the pretrained vector of each training word that has one
        (`"vectors"`, `"frozen"`, which never reads it) or zero (`"residual"`); the others, the
        unknown word's row included, a random vector drawn from a normal distribution with the
        mean and standard deviation of the training words' pretrained vectors (as allennlp
        initializes words without a pretrained vector).
        """
        pretrained_index = vocab.get_token_to_index_vocabulary(pretrained_namespace)
        words = vocab.get_index_to_token_vocabulary(vocab_namespace)
        found = {
            index: pretrained_index[word]
            for index, word in words.items()
            if index > OOV and word in pretrained_index
        }
        logger.info(
            "%d of %d training words have pretrained vectors; %d pretrained words in all",
            len(found),
            max(len(words) - 2, 0),
            len(pretrained_index) - 2,
        )
        if not found:
            raise ConfigurationError(
                f"no word of vocabulary namespace {vocab_namespace!r} has a pretrained vector"
            )
        found_vectors = pretrained[list(found.values())]
        weight = torch.empty(len(words), self.embedding_dim).normal_(
            float(found_vectors.mean()), float(found_vectors.std())
        )
        weight[PADDING] = 0.0
        rows = torch.tensor(list(found.keys()))
        weight[rows] = 0.0 if self.fine_tuning == "residual" else found_vectors
        return weight

    def get_output_dim(self) -> int:
        return self.embedding_dim

    def reloaded_state(self) -> List[str]:
        """The frozen table, when it was read from `pretrained_file`."""
        return ["pretrained"] if self._pretrained_from_file else []

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # type: ignore
        fill_reloaded_state(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(  # type: ignore
        self, tokens: torch.LongTensor, pretrained_tokens: Optional[torch.LongTensor] = None
    ) -> torch.Tensor:
        if pretrained_tokens is None:
            raise ConfigurationError(
                "taglm_word_embedding needs the pretrained ids: set pretrained_namespace "
                "in the 'normalized_single_id' token indexer"
            )
        if self.training and max(self.word_dropout, self.rare_word_dropout) > 0.0:
            rate = torch.where(
                tokens >= self.first_rare_id, self.rare_word_dropout, self.word_dropout
            )
            dropped = (torch.rand(tokens.shape, device=tokens.device) < rate) & (tokens > OOV)
            tokens = tokens.masked_fill(dropped, OOV)
        use_pretrained = pretrained_tokens > OOV
        if self.fine_tuning != "frozen":
            use_pretrained &= tokens == OOV
        pretrained = self.pretrained[pretrained_tokens]
        trained = torch.nn.functional.embedding(tokens, self.weight)
        if self.projection is None:
            return torch.where(use_pretrained.unsqueeze(-1), pretrained, trained)
        correction = trained.masked_fill(use_pretrained.unsqueeze(-1), 0.0)
        return pretrained @ self.projection.t() + correction
