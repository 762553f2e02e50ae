"""
What makes training and prediction fast without changing their results: CUDA graphs
(`cuda_graphs`), the batched, time-parallel CRF (`conditional_random_field`), the tagger's
graphed loss (`tagger_fast_paths`, the one hook through which the tagger uses this package),
the vectorized batch collator (`taglm_vectorized`) and the LMs' character CNN as one matrix
product (`taglm_fused_cnn_highway`).
"""
from taglm_plugin.speed import fused_cnn_highway, vectorized_data_collator  # noqa: F401
