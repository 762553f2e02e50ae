// Dev-tuning variant of training_configs/ner/baseline.jsonnet: dropout 0.5, 128 character CNN filters.
(import '../../../../training_configs/ner/baseline.jsonnet') + { dropout:: 0.5, char_cnn_filters:: 128 }
