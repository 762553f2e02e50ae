// TagLM for CoNLL-2003 NER (paper: 91.93 test F1): the baseline tagger plus the frozen biLM's
// top-layer states [h_fwd; h_bwd] concatenated to the output of the first biRNN layer.
(import '../common/ner.libsonnet') + (import '../common/bilm.libsonnet')
