// TagLM with the frozen biLM's states cached in memory (computed once, reused every epoch):
// the same results as taglm.jsonnet, faster training.
(import 'taglm.jsonnet') { lm_cache:: { max_memory_mib: 4096 } }
