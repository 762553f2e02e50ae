// `make demo`: the NER baseline architecture, scaled down, on the small synthetic sample in
// examples/ner_sample (trains in about a minute on a laptop CPU).
(import '../common/ner.libsonnet') {
  train_data:: 'examples/ner_sample/train.txt',
  validation_data:: 'examples/ner_sample/dev.txt',
  char_cnn_filters:: 16,
  hidden_sizes:: [64, 64],
  batch_size:: 16,
  learning_rate:: 0.005,
  num_epochs:: 10,
  // Words seen once are trained as the unknown word, so names the demo never saw are not all
  // alike; the vocabulary comes from the training file only (examples/ner_sample/README.md).
  vocabulary: { min_count: { tokens: 2 } },
  datasets_for_vocab_creation: ['train'],
}
