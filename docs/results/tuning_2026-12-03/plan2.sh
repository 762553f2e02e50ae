#!/usr/bin/env bash
# Second tuning run (after plan.sh): dropout 0.5 lowered NER dev F1 and the chunking runs with
# dropout stopped at the 50-epoch limit still improving, so: NER variants without dropout or
# with less, chunking with 100 epochs and with dropout 0.3; seeds 1 and 2, dev only. Beside
# them, `allennlp taglm-study` end to end on the GPU at a toy scale (1 seed, 60-s LMs on
# three WikiExtractor files, 2 epochs) as a check of the command before the full study.
export OMP_NUM_THREADS=1 GLOVE=$W/glove_conll.txt.gz
source scripts/gpu_runs.sh
T=docs/results/tuning_2026-12-03
mkdir -p "$W/runs/monitor" "$W/runs/study_smoke"
(while true; do
   nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader
   sleep 15
 done >> "$W/runs/monitor/gpu.log" 2>&1) &
monitor=$!
(python3 -m allennlp taglm-study "$W/study_smoke" --lm-text "$W/wiki_small.tar.gz" --seeds 1 \
   --lm-seconds 60 --num-epochs 2 --cuda-device 0 --conll2003-dir "$CONLL2003_DIR" \
   --conll2000-dir "$CONLL2000_DIR" --glove "$GLOVE" --include-package taglm_plugin \
   > "$W/runs/study_smoke/study.log" 2>&1
 echo "$(date +%T) study_smoke rc=$?" >> "$W/done.txt"
 cp "$W/study_smoke/results.json" "$W/study_smoke/report.md" "$W/runs/study_smoke/" 2>/dev/null
 ls -R "$W/study_smoke" > "$W/runs/study_smoke/files.log") &
for seed in 1 2; do
  for variant in ner_cnn128 ner_drop02 ner_paper chunking_drop03_cnn128; do
    train_tagger "$variant" "${variant%%_*}" "$T/configs/$variant.jsonnet" "$seed" &
  done
  train_tagger chunking_drop05_cnn128_e100 chunking "$T/configs/chunking_drop05_cnn128.jsonnet" \
    "$seed" '{"trainer.num_epochs": 100}' &
done
for job in $(jobs -rp); do [ "$job" = "$monitor" ] || wait "$job"; done
summary "$W/wave3.tsv"; summary; pack
echo finished >> "$W/done.txt"
kill $monitor
