// Dev-tuning variant of training_configs/ner/baseline.jsonnet: dropout 0.5 on the token representation and the task RNN's output.
(import '../../../../training_configs/ner/baseline.jsonnet') + { dropout:: 0.5, char_cnn_filters:: 30 }
