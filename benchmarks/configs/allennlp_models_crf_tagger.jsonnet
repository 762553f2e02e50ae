// The NER baseline on allennlp-models' own `crf_tagger` (allennlp's CRF with its loop over
// time steps and per-sentence Viterbi, CategoricalAccuracy and SpanBasedF1Measure metrics,
// allennlp's default collation), for speed and accuracy comparisons with
// training_configs/ner/baseline.jsonnet. Same data, reader, embeddings, encoder (taglm_birnn:
// dropout on the input of both biLSTM layers, which allennlp's stacked `lstm` encoder cannot
// express) and trainer: only the model type and the data loaders' collation differ.
local baseline = import '../../training_configs/ner/baseline.jsonnet';

baseline {
  model+: { type: 'crf_tagger' },
  data_loader+: { collate_fn:: null },
  validation_data_loader+: { collate_fn:: null },
}
