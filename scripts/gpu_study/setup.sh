#!/usr/bin/env bash
# setup.sh [STUDY OPTIONS]: the first device call (carry .gpuA), from the checkout's root:
# copies .gpuA and the checkout to /tmp/w and starts driver.sh in the background with the
# options for `allennlp taglm-study` (or, with PLAN=SCRIPT, for that script: driver.sh);
# returns at once. The driver waits for the Wikipedia archives, CoNLL and the word vectors of
# the next two calls (send_text.sh); with NO_LM_TEXT=1, for CoNLL and the vectors only, which
# `send_text.sh -` hands over in the same call.
set -e
W=/tmp/w; mkdir -p $W/repo $W/data
cp .gpuA/* $W/
tar cf - --exclude=./.gpuA --exclude=./.gpuB --exclude=./.git . | tar xf - -C $W/repo
printf '%q ' "$@" > $W/study_options
setsid nohup bash $W/repo/scripts/gpu_study/driver.sh > $W/driver.log 2>&1 < /dev/null &
sleep 2; cat $W/driver.log
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv; nproc; df -h /tmp | tail -1
# Whether CUDA MPS (kernels of the parallel trainings side by side) is installed here.
command -v nvidia-cuda-mps-control || echo 'no nvidia-cuda-mps-control'
