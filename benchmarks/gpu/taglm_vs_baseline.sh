#!/usr/bin/env bash
# Trains the NER baseline and TagLM (training_configs/ner/{baseline,taglm}.jsonnet) for the
# same number of epochs on the GPU host, TagLM with the LMs of pretrain_lms.sh, and copies
# their metrics to $OUT. Usage: bash benchmarks/gpu/taglm_vs_baseline.sh EPOCHS LM_STATE_DIM
set -uo pipefail
source benchmarks/gpu/env.sh
export NUM_EPOCHS=$1 LM_STATE_DIM=$2
export FORWARD_LM=$PWD/runs/lm/forward/encoder.tar.gz BACKWARD_LM=$PWD/runs/lm/backward/encoder.tar.gz
for config in baseline taglm; do
  python3 -m allennlp train training_configs/ner/$config.jsonnet -s runs/ner/$config -f \
    --include-package taglm_plugin > $OUT/ner_$config.log 2>&1
  echo "ner/$config: exit $?"
  cp runs/ner/$config/metrics.json $OUT/ner_${config}_metrics.json
  grep -E "Epoch duration|f1-measure-overall \|" $OUT/ner_$config.log
done
