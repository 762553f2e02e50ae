// Dev-tuning variant of training_configs/ner/baseline.jsonnet: 128 character CNN filters (no dropout).
(import '../../../../training_configs/ner/baseline.jsonnet') + { char_cnn_filters:: 128 }
