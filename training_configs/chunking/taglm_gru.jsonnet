// Ablation: GRU instead of LSTM cells in the task biRNN (the paper's NER tagger uses GRUs).
(import 'taglm.jsonnet') { cell:: 'gru' }
