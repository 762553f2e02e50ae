"""
What makes training and prediction fast without changing their results: CUDA graphs
(`cuda_graphs`), the batched, time-parallel CRF (`conditional_random_field`), the tagger's
graphed loss (`tagger_fast_paths`, the one hook through which the tagger uses this package)
and the vectorized batch collator (`taglm_vectorized`).
"""
from taglm_plugin.speed import vectorized_data_collator  # noqa: F401
