// Dev-tuning variant of training_configs/chunking/baseline.jsonnet: dropout 0.3, 128 character CNN filters.
(import '../../../../training_configs/chunking/baseline.jsonnet') + { dropout:: 0.3, char_cnn_filters:: 128 }
