#!/usr/bin/env bash
# Pretrains the forward and the backward LM (training_configs/lm, LM_SIZE=budget) for a
# bounded time each on the GPU host, exports encoder-only fp16 archives to runs/lm/, and
# copies metrics, logs and exports to $OUT. Usage (repo root, GPU host):
#   bash benchmarks/gpu/pretrain_lms.sh SECONDS_PER_DIRECTION
set -uo pipefail
source benchmarks/gpu/env.sh
export LM_SIZE=budget LM_TIME_BUDGET_SECONDS=${1:-150}
export LM_TRAIN_DATA=$PWD/.gpu/wiki/enwiki-AA-00-39.tar.gz
for direction in forward backward; do
  start=$(date +%s)
  python3 -m allennlp train training_configs/lm/$direction.jsonnet -s runs/lm/$direction -f \
    --include-package taglm_plugin > $OUT/lm_$direction.log 2>&1
  echo "$direction: exit $? after $(( $(date +%s) - start )) s"
  python3 -m taglm_plugin.commands.export_lm runs/lm/$direction/model.tar.gz \
    runs/lm/$direction/encoder.tar.gz --half --max-mib 16
  cp runs/lm/$direction/metrics.json $OUT/lm_${direction}_metrics.json
  grep -E "perplexity|tokens_per_second|tokens_seen|Epoch duration" $OUT/lm_$direction.log | tail -8
done
ls -la runs/lm/*/
