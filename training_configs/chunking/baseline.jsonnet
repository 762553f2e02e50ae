// Baseline tagger for CoNLL-2000 chunking (paper: 95.00 test F1 with Senna embeddings):
// char CNN + GloVe 6B 50d + 2-layer biLSTM + CRF, no language model.
import '../common/chunking.libsonnet'
