// Dev-tuning variant of training_configs/ner/baseline.jsonnet: dropout 0.5, and 0.5 on the input of each biRNN layer.
(import '../../../../training_configs/ner/baseline.jsonnet') + { dropout:: 0.5, rnn_dropout:: 0.5, char_cnn_filters:: 30 }
