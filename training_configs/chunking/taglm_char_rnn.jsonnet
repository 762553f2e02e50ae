// Ablation: a character biGRU (2 layers, 80 units, 25-dim characters; the paper's NER
// setting, Sec. 3) instead of the character CNN.
(import 'taglm.jsonnet') { char_encoder:: 'rnn' }
