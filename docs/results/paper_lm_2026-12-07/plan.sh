#!/usr/bin/env bash
# plan.sh [SECONDS]: one GPU host, run by scripts/gpu_study/driver.sh instead of the study
# (`PLAN=docs/results/paper_lm_2026-12-07/plan.sh bash scripts/gpu_study/setup.sh [SECONDS]`,
# then send_text.sh twice and poll.sh, as for the study), from the checkout's root, with the
# study's data in $W (both Wikipedia archives, CoNLL, the GloVe subset); output in $W/study.
# 1. Issue 15, items 3 and 4: benchmarks/gpu/speed_taglm.sh with `paper`-size LMs (pretrained
#    30 s each: speed does not depend on their quality), 3 epochs of the NER baseline, TagLM and
#    taglm_cached with and without the LM cache's warm-up, TagLM's tagging throughput on the
#    GPU and the host's CPU cores (speed/; on the CPU one timed pass after the warm-up: the
#    paper-size LMs' arithmetic makes each pass long there).
# 2. LM quality for a fixed time (issues 14 and 15), as the study trains its LMs (forward and
#    backward side by side, the GPU to themselves, both archives), SECONDS each (default 180),
#    one pair after the other (benchmarks/gpu/lm_budget_ab.sh; lm_ab/):
#      budget_bfloat16  the study's default then: `budget`, bf16 with fp32 LSTMs, 512 sentences, Adam 0.003
#      paper_bfloat16   the `paper` preset (LSTM-2048-512, 512-dim states), bf16 with fp32
#                       LSTMs, 512 sentences, Adam 0.002
#      budget_float16   `budget` in fp16 with a loss scaler, the LSTMs in fp16 too
set -u
W=${W:?set W}
seconds=${1:-180}
t0=$(date +%s)
stamp() { echo "$(date +%T) +$(( $(date +%s) - t0 ))s $*"; }
mkdir -p /tmp/site && ln -sfn "$W/site" /tmp/site/site  # the bundle, where env.sh looks
ln -sfn "$W/glove_conll.txt.gz" "$W/data/glove_conll.txt.gz"
export GPU_DATA=../data OUT=$W/study/speed  # GPU_DATA: relative to the checkout (env.sh)
mkdir -p "$OUT" "$W/study/lm_ab"
stamp "speed_taglm (paper-size LMs)"
LM_SIZE=paper KERNELS=0 CPU_TAGGING_REPEATS=1 env -u OMP_NUM_THREADS bash benchmarks/gpu/speed_taglm.sh "$W/wikiAA.tar.xz" 3 > "$OUT/speed_taglm.txt" 2>&1
stamp "speed_taglm rc=$?"
for variant in "budget bfloat16 float32 512:0.003" "paper bfloat16 float32 512:0.002" \
               "budget float16 mixed 512:0.003"; do
  read -r size precision lstm batch_lr <<< "$variant"
  name=${size}_$precision
  stamp "lm_budget_ab $name $batch_lr, $seconds s"
  RUNS=$W/study/lm_ab/$name CACHES=$W/study/lm_ab LM_SIZE=$size LM_PRECISION=$precision \
    LM_LSTM_PRECISION=$lstm bash benchmarks/gpu/lm_budget_ab.sh "$W/wiki*.tar.xz" "$seconds" \
    "$batch_lr" > "$W/study/lm_ab/$name.txt" 2>&1
  stamp "lm_budget_ab $name rc=$?"
  tail -3 "$W/study/lm_ab/$name.txt"
done
