export W=/tmp/w PYTHONPATH=/tmp/w/site:$PWD CUDA_DEVICE=0 CONLL2003_DIR=/tmp/w/data/conll2003 GLOVE=/tmp/w/glove.6B.50d.txt OMP_NUM_THREADS=2
run() { d=$W/runs/$1/seed$2; mkdir -p $d; SEED=$2 python3 -m allennlp train training_configs/ner/baseline.jsonnet -s $d -f --include-package taglm_plugin -o "{\"model.text_field_embedder.token_embedders.tokens.word_dropout\": $3}" > $d.train.log 2>&1 && python3 -m allennlp evaluate $d/model.tar.gz $CONLL2003_DIR/eng.testb --cuda-device 0 --include-package taglm_plugin --output-file $d/test_metrics.json > $d.eval.log 2>&1; echo "$1 seed$2 rc=$?" >> $W/done2.txt; }
for s in 1 2 3; do run residual_wd0.15 $s 0.15 & done
for s in 1 2; do run residual_wd0 $s 0.0 & done
wait; echo finished >> $W/done2.txt
