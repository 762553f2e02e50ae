#!/usr/bin/env bash
# driver.sh (started by setup.sh on the GPU host): unpacks the bundle, checks the imports, waits
# for both Wikipedia archives, CoNLL and the word vectors (send_text.sh, two calls), runs one
# `allennlp taglm-study` over them with the options given to setup.sh, and packs the results
# every 30 s and at the end. GPU memory per process and in all is logged every 10 s.
set -u
W=/tmp/w
t0=$(date +%s)
log() { echo "$(date +%T) +$(( $(date +%s) - t0 ))s $*" >> $W/done.txt; }
log start
tar xJf $W/bundle.tar.xz -C $W
log unpacked
cd $W/repo
export PYTHONPATH=$W/site:$W/repo PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
python3 -c "import allennlp, taglm_plugin, matplotlib, torch; print('imports ok', torch.__version__, torch.cuda.get_device_name(0))" >> $W/done.txt 2>&1
mkdir -p $W/study
monitors=()
(while true; do
   nvidia-smi --query-compute-apps=timestamp,pid,used_memory --format=csv,noheader >> $W/study/gpumem.csv 2>/dev/null
   nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader >> $W/study/gpu.csv 2>/dev/null
   sleep 10
 done) &
monitors+=($!)
(while true; do sleep 30; bash $W/repo/scripts/gpu_study/pack.sh; done) &
monitors+=($!)
until [ -e $W/wikiAA.tar.xz ] && [ -e $W/wikiAB.tar.xz ] && [ -e $W/conll.tar.xz ] &&
      [ -e $W/glove_conll.txt.gz ]; do sleep 1; done
tar xJf $W/conll.tar.xz -C $W/data
log text-ready
eval "options=($(cat $W/study_options))"
log "taglm-study ${options[*]}"
python3 -m allennlp taglm-study $W/study --lm-text $W/wikiAA.tar.xz $W/wikiAB.tar.xz \
  --conll2003-dir $W/data/conll2003 --conll2000-dir $W/data/conll2000 \
  --glove $W/glove_conll.txt.gz --cuda-device 0 "${options[@]}" > $W/study/study.log 2>&1
log "study rc=$?"
kill "${monitors[@]}"
bash $W/repo/scripts/gpu_study/pack.sh
touch $W/finished
log finished
