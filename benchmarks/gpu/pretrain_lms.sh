#!/usr/bin/env bash
# Pretrains the forward and the backward LM (training_configs/lm, LM_SIZE, default budget)
# for a bounded time each on the GPU host, exports encoder-only fp16 archives
# (runs/lm/DIRECTION/encoder.tar.gz; at most 16 MiB for `budget`) and copies metrics and logs
# to $OUT.
# Usage (repo root, GPU host): bash benchmarks/gpu/pretrain_lms.sh TEXT SECONDS_PER_DIRECTION
# LM_PRECISION (float32, bfloat16, float16) and LM_CACHE_DIR (token cache, default runs/lm/cache,
# built by the forward run and reused by the backward one; empty: allennlp's loader) pass through.
set -uo pipefail
source benchmarks/gpu/env.sh
source benchmarks/gpu/lib.sh
export LM_SIZE=${LM_SIZE:-budget} LM_TRAIN_DATA=$1 LM_TIME_BUDGET_SECONDS=$2
limit=$([ "$LM_SIZE" = budget ] && echo "--max-mib 16")
for direction in forward backward; do
  start=$(date +%s)
  train_lm $direction runs/lm/$direction $(( $2 + 150 )) $OUT/lm_$direction.log
  echo "$direction: exit $? after $(( $(date +%s) - start )) s"
  python3 -m taglm_plugin.commands.export_lm runs/lm/$direction/model.tar.gz \
    runs/lm/$direction/encoder.tar.gz --half $limit 2>&1 | grep -v nltk | tail -2
  cp runs/lm/$direction/metrics.json $OUT/lm_${direction}_metrics.json
  grep -E "Token cache|tokens seen|perplexity  |Epoch duration" $OUT/lm_$direction.log | tail -6
done
ls -la runs/lm/*/encoder.tar.gz
