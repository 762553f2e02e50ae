#!/bin/bash
# setup.sh SECONDS: the first device call, carrying .gpuA (scripts/gpu_study/prepare.sh:
# bundle.tar.xz, conll.tar.xz, glove_conll.txt.gz), from the checkout's root: unpacks them and
# a copy of the checkout into /tmp/w, starts plan.sh in the background, then waits like
# poll.sh. Later calls: `bash /tmp/w/repo/docs/results/tuning_2026-12-07/poll.sh SECONDS`.
set -e
W=/tmp/w; mkdir -p $W/repo $W/data
tar xJf .gpuA/bundle.tar.xz -C $W
tar xJf .gpuA/conll.tar.xz -C $W/data
cp .gpuA/glove_conll.txt.gz $W/
tar cf - --exclude=./.gpuA --exclude=./.gpuB --exclude=./.gpu --exclude=./.git . | tar xf - -C $W/repo
cd $W/repo
PYTHONPATH=$W/site:$W/repo python3 -c "import allennlp, taglm_plugin, torch; print(torch.__version__, torch.cuda.get_device_name(0))"
W=$W setsid nohup bash docs/results/tuning_2026-12-07/plan.sh > $W/driver.log 2>&1 < /dev/null &
nproc; nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv
bash docs/results/tuning_2026-12-07/poll.sh "${1:-500}"
