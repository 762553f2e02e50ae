from taglm_plugin.data.data_collators.vectorized_data_collator import VectorizedDataCollator  # noqa: F401
