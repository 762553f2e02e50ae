// Dev-tuning variant of training_configs/ner/baseline.jsonnet: the paper's NER tagger (Sec. 3), a character biGRU and a GRU task RNN (no dropout).
(import '../../../../training_configs/ner/baseline.jsonnet') + { char_encoder:: 'rnn', cell:: 'gru' }
