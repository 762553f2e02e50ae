// Dev-tuning variant of training_configs/ner/baseline.jsonnet: dropout 0.5, the paper's character biGRU.
(import '../../../../training_configs/ner/baseline.jsonnet') + { dropout:: 0.5, char_encoder:: 'rnn' }
