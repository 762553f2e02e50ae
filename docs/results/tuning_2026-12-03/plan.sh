#!/usr/bin/env bash
# Dev tuning of the baselines on one H200 (scripts/gpu_runs.sh says how to start it): every
# variant of configs/ with seeds 1 and 2, trained for dev only; per task the variant with the
# best mean dev F1 (select.py; `default` = the configs as they were) gets seeds 3-5, and its
# five models are evaluated once on the test file. Word vectors: the GloVe 6B 50d subset of
# the CoNLL words (scripts/export_glove_subset.py), as in the study.
# The variants pin every field they change from the defaults of the time (30 character
# filters, no dropout), which this tuning changed afterwards.
export OMP_NUM_THREADS=1 GLOVE=$W/glove_conll.txt.gz
source scripts/gpu_runs.sh
T=docs/results/tuning_2026-12-03
mkdir -p "$W/runs/monitor"
(while true; do
   nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader
   sleep 15
 done >> "$W/runs/monitor/gpu.log" 2>&1) &
monitor=$!
wait_runs() {  # every background job but the monitor
  local job
  for job in $(jobs -rp); do [ "$job" = "$monitor" ] || wait "$job"; done
}
for variant in ner_drop05 ner_drop05_rnn05 ner_drop05_cnn128 ner_drop05_charrnn ner_drop05_gru \
    chunking_drop05 chunking_drop05_rnn05 chunking_drop05_cnn128; do
  for seed in 1 2; do
    at_most 14  # 13 trainings and the monitor
    train_tagger "$variant" "${variant%%_*}" "$T/configs/$variant.jsonnet" "$seed" &
  done
done
wait_runs
summary "$W/wave1.tsv"; pack
declare -A best
for task in ner chunking; do
  best[$task]=$(python3 "$T/select.py" "$W/wave1.tsv" "$task" 2>> "$W/done.txt")
  echo "$(date +%T) $task selected ${best[$task]}" >> "$W/done.txt"
  [ "${best[$task]}" = default ] && continue
  for seed in 3 4 5; do
    train_tagger "${best[$task]}" "$task" "$T/configs/${best[$task]}.jsonnet" "$seed" &
  done
done
wait_runs
for task in ner chunking; do
  [ "${best[$task]}" = default ] && continue
  for seed in 1 2 3 4 5; do evaluate_tagger "${best[$task]}" "$task" "$seed" & done
done
wait_runs
summary; pack
echo finished >> "$W/done.txt"
kill $monitor
