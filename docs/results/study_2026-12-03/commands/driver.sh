#!/bin/bash
set -u
W=/tmp/w
cd $W
t0=$(date +%s)
log() { echo "$(date +%T) +$(( $(date +%s) - t0 ))s $*" >> $W/done.txt; }
log start
tar xJf bundle.tar.xz -C $W && mv $W/site $W/bsite
mkdir -p $W/mpl && tar xJf mpl.tar.xz -C $W/mpl
tar xJf conll.tar.xz -C $W/data
log unpacked
cd $W/repo
export PYTHONPATH=$W/bsite:$W/mpl/site:$W/repo PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
python3 -c "import allennlp, allennlp_models, taglm_plugin, matplotlib, torch; print('imports ok', torch.__version__, torch.cuda.get_device_name(0))" >> $W/done.txt 2>&1
mkdir -p $W/study
(while true; do nvidia-smi --query-compute-apps=timestamp,pid,used_memory --format=csv,noheader >> $W/study/gpumem.csv 2>/dev/null
  nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader >> $W/study/gpu.csv 2>/dev/null
  ps -eo pid,etimes,args --no-headers | grep "allennlp train" | grep -v grep | cut -c1-300 > $W/study/processes.txt
  sleep 10; done) &
(while true; do sleep 30; bash $W/pack.sh; done) &
until [ -e $W/wiki.ready ]; do sleep 1; done
log wiki-ready
study() {
  python3 -m allennlp taglm-study $W/study --lm-text $W/wikiAA.tar.xz $W/wikiAB.tar.xz \
    --seeds 5 --parallel 10 --lm-seconds 360 --conll2003-dir $W/data/conll2003 \
    --conll2000-dir $W/data/conll2000 --glove $W/glove_conll.txt.gz "$@"
}
study --configs taglm_cached > $W/study/study1.log 2>&1
log "study1 rc=$?"
study --configs baseline taglm_cached > $W/study/study2.log 2>&1
log "study2 rc=$?"
bash $W/pack.sh
touch $W/finished
log finished
