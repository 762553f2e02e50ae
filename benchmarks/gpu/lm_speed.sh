#!/usr/bin/env bash
# LM pretraining speed on the GPU host (issue 15, item 1), one JSON per measurement in $OUT:
# first the LSTM's precision under bf16 and fp16 autocast (benchmarks/lstm_precision.py); then
# the `paper` preset at 2048 sentences per batch in float32, bfloat16 (the LSTMs too),
# bfloat16 with the LSTMs in float32 (the configs' default) and float16 with a loss scaler
# (bf16 sampled-softmax products) with torch.profiler's table, the time of each part of a step
# and the held-out perplexity of each after the same PERPLEXITY_STEPS batches (default 200);
# then the `budget` preset in bfloat16 at 128, 512 and 1024 sentences per batch, with its parts;
# then both presets' bfloat16 throughput again with the loader's prefetching thread (2
# batches); last one round of the character CNN A/B (char_cnn_ab.sh: allennlp's against the
# fused one).
# Usage (repo root, GPU host, .gpu/site carried): bash benchmarks/gpu/lm_speed.sh TEXT [STEPS]
# (with TEXT in .gpu/ too; where both exceed a call's 64 MiB, a first call carrying .gpu/site
# runs `mkdir -p /tmp/site && tar xJf .gpu/site/allennlp_site.tar.xz -C /tmp/site`, which
# env.sh then finds, and the second carries the text).
set -uo pipefail
source benchmarks/gpu/env.sh
for size in paper budget; do
  timeout 60 python3 benchmarks/lstm_precision.py --size $size \
    --output $OUT/lstm_precision_$size.json > /dev/null 2>> $OUT/lstm_precision.log
  echo "lstm_precision $size: exit $?"
done
benchmark="python3 benchmarks/lm_throughput.py --data $1 --softmax-precision bfloat16 --loader-batches 10"
timeout 480 $benchmark --size paper --batch-size 2048 --cache-dir runs/lm/cache_paper \
  --precisions float32,bfloat16,bfloat16_lstm_float32,float16 --warmup-steps 10 --steps 20 --profile-steps 5 \
  --component-steps 10 --perplexity-steps "${2:-200}" --output $OUT/lm_paper_bs2048.json \
  > /dev/null 2> $OUT/lm_paper.log
echo "paper: exit $?"
for batch_size in 128 512 1024; do
  timeout 120 $benchmark --size budget --batch-size $batch_size --cache-dir runs/lm/cache_budget \
    --precisions bfloat16 --warmup-steps 10 --steps 30 --component-steps 10 \
    --output $OUT/lm_budget_bs$batch_size.json > /dev/null 2>> $OUT/lm_budget.log
  echo "budget $batch_size: exit $?"
done
for size in paper budget; do
  batch_size=$([ $size = paper ] && echo 2048 || echo 512)
  timeout 120 $benchmark --size $size --batch-size $batch_size --cache-dir runs/lm/cache_$size \
    --precisions bfloat16 --warmup-steps 10 --steps 30 --prefetch-batches 2 \
    --output $OUT/lm_${size}_bs${batch_size}_prefetch2.json > /dev/null 2>> $OUT/lm_prefetch.log
  echo "$size $batch_size, prefetch 2: exit $?"
done
bash benchmarks/gpu/char_cnn_ab.sh "$1" 1
python3 - <<'PY' && python3 benchmarks/gpu/throughput_summary.py "$OUT/lm_*.json" --perplexity
import glob, json, os
for path in sorted(glob.glob(os.environ["OUT"] + "/lstm_precision_*.json")):
    print(os.path.basename(path), json.load(open(path))["by_scale"])
PY
