// TagLM for CoNLL-2003 NER (paper: 91.93 test F1): the NER tagger of ner.libsonnet (batches of
// 64 and no rare-word dropout, unlike baseline.jsonnet) plus the frozen biLM's top-layer states
// [h_fwd; h_bwd] concatenated to the output of the first biRNN layer.
// Dev evidence (TagLM dev tuning of 2026-12-07, docs/RESULTS.md, `taglm_cached`, H100, seeds
// 1-3): dropout 0 (tagger.libsonnet's) 94.93 / 95.16 / 94.81 (94.97) against 0.2 95.01 /
// 94.89 / 94.85 (94.92): 0 kept.
(import '../common/ner.libsonnet') + (import '../common/bilm.libsonnet')
