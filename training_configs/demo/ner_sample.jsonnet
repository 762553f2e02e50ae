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
}
