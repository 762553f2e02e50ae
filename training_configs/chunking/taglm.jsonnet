// TagLM for CoNLL-2000 chunking (paper: 96.37 test F1): the chunking tagger of
// chunking.libsonnet (without baseline.jsonnet's casing feature, not tried for TagLM) plus the
// frozen biLM's top-layer states [h_fwd; h_bwd] concatenated to the output of the first biRNN
// layer.
(import '../common/chunking.libsonnet') + (import '../common/bilm.libsonnet')
