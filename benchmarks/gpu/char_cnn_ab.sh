#!/usr/bin/env bash
# The character CNN A/B of issue 15, item 1, on the GPU host: the `paper` preset in bfloat16 at
# 2048 sentences per batch, allennlp's `cnn-highway` against `taglm_fused_cnn_highway`
# (`--char-cnn`), alternated ROUNDS times (default 2) in one call so that both see the same
# machine; the time of each part of a step too. One JSON per run in $OUT/char_cnn_ab/, then a
# summary line per run.
# Usage (repo root, allennlp importable, e.g. after `source benchmarks/gpu/env.sh`):
#   bash benchmarks/gpu/char_cnn_ab.sh TEXT [ROUNDS]
set -uo pipefail
export PYTHONUNBUFFERED=1
results=$OUT/char_cnn_ab
mkdir -p "$results"
for round in $(seq "${2:-2}"); do
  for char_cnn in allennlp fused; do
    timeout 180 python3 benchmarks/lm_throughput.py --data "$1" --size paper --batch-size 2048 \
      --cache-dir runs/lm/cache_paper --precisions bfloat16 --softmax-precision bfloat16 \
      --loader-batches 5 --warmup-steps 10 --steps 20 --component-steps 10 \
      --char-cnn $char_cnn --output "$results/paper_bs2048_${char_cnn}_$round.json" \
      > /dev/null 2>> "$results/log"
    echo "round $round, $char_cnn: exit $?"
  done
done
python3 benchmarks/gpu/throughput_summary.py "$results/*.json" --by-mtime --precision bfloat16
