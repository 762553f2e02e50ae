// Dev-tuning variant of training_configs/ner/baseline.jsonnet: dropout 0.5, a GRU task RNN (the paper's NER cell).
(import '../../../../training_configs/ner/baseline.jsonnet') + { dropout:: 0.5, cell:: 'gru', char_cnn_filters:: 30 }
