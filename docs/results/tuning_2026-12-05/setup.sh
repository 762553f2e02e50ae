#!/bin/bash
# setup.sh SECONDS: the device call that carries .gpuA (conll.tar.xz, glove_conll.txt.gz,
# wikiAA.tar.xz), after a first call that unpacked the allennlp bundle into /tmp/w/site
# (`mkdir -p /tmp/w && tar xJf .gpu/site/allennlp_site.tar.xz -C /tmp/w`), from the
# checkout's root: copies the data and the checkout to /tmp/w, starts plan.sh in the
# background, then waits like poll.sh.
set -e
W=/tmp/w; mkdir -p $W/repo $W/data
tar cf - --exclude=./.gpuA --exclude=./.gpu --exclude=./.git . | tar xf - -C $W/repo
tar xJf .gpuA/conll.tar.xz -C $W/data
cp .gpuA/glove_conll.txt.gz $W/
cp .gpuA/wikiAA.tar.xz $W/.wikiAA.tar.xz && mv $W/.wikiAA.tar.xz $W/wikiAA.tar.xz
cd $W/repo
PYTHONPATH=$W/site:$W/repo python3 -c "import allennlp, taglm_plugin, torch; print(torch.__version__, torch.cuda.get_device_name(0))"
W=$W setsid nohup bash docs/results/tuning_2026-12-05/plan.sh > $W/driver.log 2>&1 < /dev/null &
nproc; nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv
bash docs/results/tuning_2026-12-05/poll.sh "${1:-500}"
