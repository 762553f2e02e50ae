#!/usr/bin/env bash
# plan_speed_taglm_paper.sh: issue 15's items 3 and 4 on one GPU host, run by
# scripts/gpu_study/driver.sh instead of the study, from the checkout's root, with the study's
# data in $W; output in $W/study/speed (packed with the study's files):
#   PLAN=benchmarks/gpu/plan_speed_taglm_paper.sh TAGLM_COMMIT=HASH bash scripts/gpu_study/setup.sh
# then `send_text.sh wikiAA.tar.xz 1` and `send_text.sh wikiAB.tar.xz SECONDS` and poll.sh, as for
# the study (~19 min on an H100). speed_taglm.sh with `paper`-size LMs (pretrained 30 s each on
# wikiAA: speed does not depend on their quality), 3 epochs each of the NER baseline, `taglm`
# and `taglm_cached`, both TagLM configs also with the LMs' token encoders in bf16, and TagLM's
# tagging throughput on the GPU and the host's CPU cores (one timed pass there). SPEED_RUNS (in
# setup.sh's environment) chooses fewer runs (speed_taglm.sh's names).
set -u
W=${W:?set W}
mkdir -p /tmp/site && ln -sfn "$W/site" /tmp/site/site  # the bundle, where env.sh looks
ln -sfn "$W/glove_conll.txt.gz" "$W/data/glove_conll.txt.gz"
export GPU_DATA=../data OUT=$W/study/speed  # GPU_DATA: relative to the checkout (env.sh)
mkdir -p "$OUT"
SPEED_RUNS=${SPEED_RUNS:-baseline taglm taglm_cached taglm_bf16 taglm_cached_bf16} LM_SIZE=paper KERNELS=0 \
  CPU_TAGGING_REPEATS=1 env -u OMP_NUM_THREADS bash benchmarks/gpu/speed_taglm.sh \
  "$W/wikiAA.tar.xz" 3 > "$OUT/speed_taglm.txt" 2>&1
echo "speed_taglm rc=$?"
