// CoNLL-2003 English NER: 4 columns (token POS chunk NER), IOB1 tags. Dev = eng.testa.
// Test (eng.testb) is kept out of training; evaluate it once with `allennlp evaluate`.
local data_dir = std.extVar('CONLL2003_DIR');

(import 'tagger.libsonnet') {
  train_data:: data_dir + '/eng.train',
  validation_data:: data_dir + '/eng.testa',
  reader:: { type: 'taglm_conll', tag_column: 3, tag_scheme: 'IOB1' },
}
