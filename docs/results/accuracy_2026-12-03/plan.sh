#!/usr/bin/env bash
# The runs of docs/RESULTS.md of 2026-12-03 on one H200 (scripts/gpu_runs.sh says how to start
# it): baselines of both tasks (3 seeds) and one NER dev-tuning variant (2 seeds) while the two
# `budget` LMs pretrain side by side for LM_SECONDS each on Wikipedia text/AA (16.3M tokens),
# then TagLM on both tasks (3 seeds) with those LMs (RUN_TAGLM=0: baselines only); every model
# evaluated once on its test file.
export OMP_NUM_THREADS=1  # up to 14 processes on 16 cores
LM_SECONDS=${LM_SECONDS:-150} RUN_TAGLM=${RUN_TAGLM:-1}
source scripts/gpu_runs.sh
[ "$RUN_TAGLM" = 1 ] && (
  wait_for "$W/wikiAA.tar.xz"
  lm forward "$LM_SECONDS" "$W/wikiAA.tar.xz" &
  lm backward "$LM_SECONDS" "$W/wikiAA.tar.xz" &
  wait
) &
lms=$!
[ "$RUN_TAGLM" = 1 ] || lms=
(
  wait_for "$W/glove.6B.50d.txt"
  for seed in 1 2 3; do
    tagger baseline ner baseline $seed &
    tagger baseline chunking baseline $seed &
  done
  for seed in 1 2; do
    tagger frozen_vectors ner baseline $seed \
      '{"model.text_field_embedder.token_embedders.tokens.fine_tuning": "frozen"}' &
  done
  wait
  summary; pack
) &
if [ "$RUN_TAGLM" = 1 ]; then
wait $lms
export FORWARD_LM=$W/runs/lm/forward/encoder.tar.gz BACKWARD_LM=$W/runs/lm/backward/encoder.tar.gz
export LM_STATE_DIM=256
wait_for "$W/glove.6B.50d.txt"
# taglm_cached: taglm.jsonnet with the frozen LM's states cached across epochs (same outputs).
for seed in 1 2 3; do
  tagger taglm ner taglm_cached $seed &
  tagger taglm chunking taglm_cached $seed &
done
fi
wait
summary; pack
echo finished >> "$W/done.txt"
