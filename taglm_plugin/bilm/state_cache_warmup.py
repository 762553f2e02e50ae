"""
`taglm_lm_cache_warmup`: the frozen biLM's state cache filled before the first epoch, in large
batches of sentences of similar length.
"""
import logging
import time
from typing import TYPE_CHECKING, Any, Dict, Iterable, List

import torch
from allennlp.data import Instance
from allennlp.nn.util import move_to_device
from allennlp.training.callbacks.callback import TrainerCallback

from taglm_plugin.bilm.frozen_bilm import FrozenBiLmEmbedder
from taglm_plugin.common.config_keys import ChecksConfigKeys

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)


@TrainerCallback.register("taglm_lm_cache_warmup")
class LmCacheWarmupCallback(ChecksConfigKeys, TrainerCallback):
    """
    Before training, runs every cached `frozen_bilm` of the model (`cache` set) on every
    sentence of the training and the validation data (each loader's, in memory; a lazy one is
    left out), sorted by length, `batch_size` sentences and at most `max_tokens` padded tokens
    at a time, so that the first epoch reads the states from the cache like the later ones. In
    training the LM otherwise runs on the batches of the tagger (64 sentences), with the
    tagger's padding. The states are the ones the LM computes in any batch (equal up
    to float32 rounding of the different batch shapes; `state_cache.py`); training reads them
    from the cache. Sentences the cache has no room for (`max_memory_mib`) are
    computed again in training, as without the warm-up; an embedder without `cache` is left
    alone. The time it takes is logged ("LM state cache warmed up"): it is spent before the
    first epoch, outside allennlp's epoch durations.

    On a GPU, PyTorch's cache of freed blocks is emptied after every batch, so that the
    trainings beside this one on the same GPU can have them. Each batch's largest tensors are a
    little larger or smaller than the last one's (up to the batch's distinct words x 50
    characters x the LM's filters: 3.4 GB for 8,192 words and the character CNN of the `paper`
    preset), and the cache keeps blocks of the sizes it has seen: a warm-up with `paper`-size
    LMs that emptied it only at the end held 70 GB of an H100 (docs/PERFORMANCE.md). The log
    line gives the memory PyTorch holds after the warm-up.

    Registered as a `TrainerCallback` with name "taglm_lm_cache_warmup".

    # Parameters

    batch_size : `int`, optional (default = `512`)
        Sentences per LM batch, at most.
    max_tokens : `int`, optional (default = `8192`)
        Tokens per LM batch with padding, at most (a sentence longer than that alone): the
        LM's memory is that of the tagger's batches of 64 sentences of up to 128 tokens.
    text_field : `str`, optional (default = `"tokens"`)
        The instances' text field, whose tensors hold the LM's under `lm_tokens_key`.
    lm_tokens_key : `str`, optional (default = `"lm"`)
        The key of the LM's tensors (the tagger's `lm_tokens_key`).
    """

    def __init__(
        self,
        serialization_dir: str,
        batch_size: int = 512,
        max_tokens: int = 8192,
        text_field: str = "tokens",
        lm_tokens_key: str = "lm",
    ) -> None:
        super().__init__(serialization_dir)
        self._batch_size = batch_size
        self._max_tokens = max_tokens
        self._text_field = text_field
        self._lm_tokens_key = lm_tokens_key

    def on_start(
        self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs
    ) -> None:
        super().on_start(trainer, is_primary)
        embedders = [
            module
            for module in trainer.model.modules()
            if isinstance(module, FrozenBiLmEmbedder) and module.state_cache is not None
        ]
        loaders = [trainer.data_loader, trainer._validation_data_loader]
        # A lazy loader (`max_instances_in_memory`) would read its data once more for this.
        loaders = [
            loader
            for loader in loaders
            if loader is not None and getattr(loader, "max_instances_in_memory", None) is None
        ]
        if not embedders or not loaders:
            return
        start = time.perf_counter()
        sentences = 0
        for loader in loaders:
            instances = list(loader.iter_instances())
            sentences += len(instances)
            for lm_tensors in self._lm_batches(instances, loader.collate_fn):  # type: ignore
                lm_tensors = move_to_device(lm_tensors, trainer.cuda_device)
                for embedder in embedders:
                    embedder(**lm_tensors)
                del lm_tensors
                self._release_gpu_blocks()
        logger.info(
            "LM state cache warmed up: %d sentences in %.2f s (%s cached states)%s",
            sentences,
            time.perf_counter() - start,
            ", ".join(str(len(embedder.state_cache)) for embedder in embedders),  # type: ignore
            f"; GPU memory held {torch.cuda.memory_reserved() / 2**20:,.0f} MiB"
            if torch.cuda.is_initialized()
            else "",
        )

    @staticmethod
    def _release_gpu_blocks() -> None:
        """Returns the GPU blocks PyTorch holds freed to the GPU, for the runs beside this one."""
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()

    def _lm_batches(self, instances: List[Instance], collate: Any) -> Iterable[Dict[str, Any]]:
        """The LM's tensors of `instances`, shortest first, in batches of at most `batch_size`
        sentences and `max_tokens` tokens with padding."""
        lengths = [len(instance[self._text_field]) for instance in instances]
        order = sorted(range(len(instances)), key=lengths.__getitem__)
        batch: List[Instance] = []
        for index in order:
            if batch and (
                len(batch) == self._batch_size
                or (len(batch) + 1) * lengths[index] > self._max_tokens
            ):
                yield collate(batch)[self._text_field][self._lm_tokens_key]
                batch = []
            batch.append(instances[index])
        if batch:
            yield collate(batch)[self._text_field][self._lm_tokens_key]
