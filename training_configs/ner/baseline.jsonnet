// Baseline tagger for CoNLL-2003 NER (paper: 90.87 test F1 with Senna embeddings):
// char CNN + GloVe 6B 50d + 2-layer biLSTM + CRF, no language model.
import '../common/ner.libsonnet'
