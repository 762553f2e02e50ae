// The NER baseline architecture on allennlp-models' own `crf_tagger` (allennlp's CRF,
// per-sentence Viterbi, a stacked torch LSTM), for speed and accuracy comparisons with
// training_configs/ner/baseline.jsonnet. Same data, reader, embeddings, sizes and trainer.
local baseline = import '../../training_configs/ner/baseline.jsonnet';

baseline {
  model+: {
    type: 'crf_tagger',
    encoder: {
      type: 'lstm',
      input_size: baseline.model.encoder.input_size,
      hidden_size: baseline.model.encoder.hidden_sizes[0],
      num_layers: std.length(baseline.model.encoder.hidden_sizes),
      dropout: baseline.model.encoder.dropout,
      bidirectional: true,
    },
  },
}
