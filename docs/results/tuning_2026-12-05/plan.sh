#!/usr/bin/env bash
# One GPU host, started by setup.sh (W=/tmp/w). Two parts, one after the other:
#
# 1. The LM's precision (issue 15, item 1), the GPU to itself: held-out perplexity after the
#    same batches from one start in float32, bfloat16 (the model's autocast, bf16 softmax
#    products) and bfloat16 with the LSTMs in float32 (`lstm_precision: "float32"`), for the
#    `paper` preset at 2048 sentences per batch (200 steps, as in docs/PERFORMANCE.md) and the
#    `budget` preset that the study trains, at its 128 (1000 steps); text: wikiAA.tar.xz.
# 2. Dev tuning of the baselines (issue 11): the batch size (32 against the configs' 64) and,
#    for NER, gradient clipping at 1.0 (against 5.0), seeds 1-2 each, dev only, at most
#    MAX_TRAININGS at once. Per task, select.py picks the variant with the best mean dev F1;
#    if that is not `default`, the winner and `default` both get seeds 3-5, a 5-seed A/B of
#    the same run. Only after the selection is every model of the task evaluated once on its
#    test file. Word vectors: the GloVe 6B 50d subset of the CoNLL words, as in the studies.
export OMP_NUM_THREADS=1 GLOVE=$W/glove_conll.txt.gz MAX_TRAININGS=${MAX_TRAININGS:-8}
source scripts/gpu_runs.sh
T=docs/results/tuning_2026-12-05
mkdir -p "$W/runs/monitor" "$W/runs/lm_precision"
(while true; do
   nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader
   sleep 15
 done >> "$W/runs/monitor/gpu.log" 2>&1) &
monitor=$!

lm_check() {  # SIZE BATCH_SIZE STEPS
  local name=$1_bs$2
  wait_for "$W/wikiAA.tar.xz"
  timeout 900 python3 benchmarks/lm_throughput.py --data "$W/wikiAA.tar.xz" --size "$1" \
    --batch-size "$2" --precisions float32,bfloat16,bfloat16_lstm_float32 \
    --softmax-precision bfloat16 --warmup-steps 0 --steps 1 --loader-batches 1 \
    --perplexity-steps "$3" --cache-dir "$W/lm_cache_$1" \
    --output "$W/runs/lm_precision/$name.json" > "$W/runs/lm_precision/$name.log" 2>&1
  echo "$(date +%T) lm_precision $name rc=$?" >> "$W/done.txt"
}
lm_check paper 2048 200
lm_check budget 128 1000

declare -A OVERRIDES=(
  [default]='{}'
  [bs32]='{"data_loader.batch_sampler.batch_size": 32}'
  [gn1]='{"trainer.grad_norm": 1.0}'
)

gated() {  # COMMAND...: runs it once fewer than MAX_TRAININGS trainings run on the host
  exec 9> "$W/slots.lock"
  flock 9
  while [ "$(pgrep -fc -- '-m allennlp train')" -ge "$MAX_TRAININGS" ]; do sleep 3; done
  "$@" 9>&- &
  sleep 5  # the training's process is running (and counted) before the next one looks
  flock -u 9
  exec 9>&-
  wait
}

tune() {  # TASK VARIANT...: the dev tuning of TASK, then its test evaluations
  local task=$1 variant seed best
  shift
  for seed in 1 2; do
    for variant in "$@"; do
      gated train_tagger "$variant" "$task" baseline "$seed" "${OVERRIDES[$variant]}" &
    done
  done
  wait
  summary "$W/$task.tsv"
  best=$(python3 "$T/select.py" "$W/$task.tsv" "$task" 2>> "$W/done.txt") || best=default
  echo "$(date +%T) $task selected $best" >> "$W/done.txt"
  if [ "$best" != default ]; then
    for seed in 3 4 5; do
      for variant in "$best" default; do
        gated train_tagger "$variant" "$task" baseline "$seed" "${OVERRIDES[$variant]}" &
      done
    done
    wait
  fi
  for run in "$W"/runs/"$task"/*/seed*/model.tar.gz; do
    variant=$(basename "$(dirname "$(dirname "$run")")")
    seed=$(basename "$(dirname "$run")")
    evaluate_tagger "$variant" "$task" "${seed#seed}" &
  done
  wait
}

tune ner bs32 gn1 default &
tune chunking bs32 default &
for job in $(jobs -rp); do [ "$job" = "$monitor" ] || wait "$job"; done
summary; pack
echo finished >> "$W/done.txt"
kill $monitor
