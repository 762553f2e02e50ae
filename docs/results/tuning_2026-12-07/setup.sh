#!/bin/bash
# [SEEDS=... VARIANTS=...] setup.sh: the first device call, carrying .gpuA (bundle.tar.xz of
# scripts/gpu_study/prepare.sh), from the checkout's root: unpacks it and a copy of the checkout
# into /tmp/w and starts plan.sh in the background, which waits for the data. The checkout
# (18 MB) leaves no room for the data in the same call: the second call carries
# .gpuB/conll.tar.xz and .gpuB/glove_conll.txt.gz (not the Wikipedia archives beside them) and
# runs `bash docs/results/tuning_2026-12-07/data.sh SECONDS`; later calls
# `bash /tmp/w/repo/docs/results/tuning_2026-12-07/poll.sh SECONDS`.
set -e
W=/tmp/w; mkdir -p $W/repo $W/data
tar xJf .gpuA/bundle.tar.xz -C $W
tar cf - --exclude=./.gpuA --exclude=./.gpuB --exclude=./.gpu --exclude=./.git . | tar xf - -C $W/repo
cd $W/repo
PYTHONPATH=$W/site:$W/repo python3 -c "import allennlp, taglm_plugin, torch; print(torch.__version__, torch.cuda.get_device_name(0))"
W=$W SEEDS=${SEEDS:-} VARIANTS=${VARIANTS:-} setsid nohup bash docs/results/tuning_2026-12-07/plan.sh > $W/driver.log 2>&1 < /dev/null &
nproc; nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv
