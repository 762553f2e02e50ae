#!/usr/bin/env bash
# driver.sh (started by setup.sh on the GPU host): unpacks the bundle, checks the imports, waits
# for both Wikipedia archives, CoNLL and the word vectors (send_text.sh, two calls), runs one
# `allennlp taglm-study` over them with the options given to setup.sh, and packs the results
# every 30 s and at the end. GPU memory per process and in all is logged every 10 s. With
# CPU_TAGGING=1, the CPU tagging throughput of the study's NER baseline follows the study.
# With PLAN=SCRIPT (a path in the checkout, in setup.sh's environment), `bash SCRIPT` runs
# instead of the study, with the same data, from the checkout's root, its output into
# $W/study (packed like the study's); setup.sh's options are then its arguments. With
# NO_LM_TEXT=1 (a study of configs without LMs, e.g. `--configs baseline`) it waits for CoNLL
# and the word vectors only, and gives the study no `--lm-text`.
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
source $W/repo/benchmarks/gpu/lib.sh
gpu_memory_monitor $W/study/gpumem.csv $W/study/gpu.csv
monitors+=($!)
(while true; do sleep 30; bash $W/repo/scripts/gpu_study/pack.sh; done) &
monitors+=($!)
lm_text=($W/wikiAA.tar.xz $W/wikiAB.tar.xz)
[ "${NO_LM_TEXT:-0}" = 1 ] && lm_text=()
needed=("${lm_text[@]}" $W/conll.tar.xz $W/glove_conll.txt.gz)
until ls "${needed[@]}" > /dev/null 2>&1; do sleep 1; done
tar xJf $W/conll.tar.xz -C $W/data
log text-ready
eval "options=($(cat $W/study_options))"
if [ -n "${PLAN:-}" ]; then
  log "$PLAN ${options[*]}"
  W=$W bash "$PLAN" "${options[@]}" > $W/study/plan.log 2>&1
  log "plan rc=$?"
else
  log "taglm-study ${options[*]}"
  python3 -m allennlp taglm-study $W/study ${lm_text[@]:+--lm-text "${lm_text[@]}"} \
    --conll2003-dir $W/data/conll2003 --conll2000-dir $W/data/conll2000 \
    --glove $W/glove_conll.txt.gz --cuda-device 0 "${options[@]}" > $W/study/study.log 2>&1
  log "study rc=$?"
fi
# With CPU_TAGGING=1 (in setup.sh's environment; ~2 min): issue 15's CPU tagging on this host,
# the study's NER baseline (seed 1) tagging eng.train + eng.testa (17,291 sentences) in one
# process (all cores' threads) and in 16 worker processes, at two call sizes.
archive=$W/study/runs/ner/baseline/seed1/model.tar.gz
if [ "${CPU_TAGGING:-0}" = 1 ] && [ -e $archive ]; then
  cat $W/data/conll2003/eng.train $W/data/conll2003/eng.testa > $W/cpu_tagging.txt
  mkdir -p $W/study/cpu_tagging
  for batch_size in 4096 17291; do
    env -u OMP_NUM_THREADS python3 benchmarks/predict_throughput.py $archive $W/cpu_tagging.txt \
      --cuda-device -1 --workers 0,16 --batch-size $batch_size \
      > $W/study/cpu_tagging/predict_bs$batch_size.json 2>> $W/study/cpu_tagging/log.txt
    log "cpu tagging, calls of $batch_size: rc=$?"
  done
fi
kill "${monitors[@]}"
bash $W/repo/scripts/gpu_study/pack.sh
touch $W/finished
log finished
