#!/bin/bash
# setup.sh SECONDS [PLAN]: the first call on the GPU host (from the checkout's root): unpacks
# .gpuA (the allennlp bundle, conll.tar.xz, glove_conll.txt.gz, for plan2.sh also
# wiki_small.tar.gz) into /tmp/w, copies the checkout to /tmp/w/repo, starts PLAN (default
# plan.sh) in the background, then waits like poll.sh.
set -e
W=/tmp/w; mkdir -p $W/repo $W/data
cp .gpuA/* $W/
tar cf - --exclude=./.gpuA --exclude=./.git . | tar xf - -C $W/repo
tar xJf $W/bundle.tar.xz -C $W && tar xJf $W/conll.tar.xz -C $W/data
cd $W/repo
PYTHONPATH=$W/site:$W/repo python3 -c "import allennlp, taglm_plugin, torch; print(torch.__version__, torch.cuda.get_device_name(0))"
W=$W setsid nohup bash docs/results/tuning_2026-12-03/${2:-plan.sh} > $W/driver.log 2>&1 < /dev/null &
nproc; nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv
bash docs/results/tuning_2026-12-03/poll.sh "${1:-500}"
