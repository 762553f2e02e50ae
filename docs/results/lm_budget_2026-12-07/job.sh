#!/usr/bin/env bash
# The session's GPU job (2026-12-07): the fp16 + loss-scaler perplexity check, then the LM
# batch/learning-rate A/B over both Wikipedia archives (sent by later calls).
W=/tmp/w
log() { echo "$(date +%T) $*" >> $W/done.txt; }
cd $W/repo
export PYTHONPATH=$W/site:$W/repo OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p $W/out
log start
python3 -c "import allennlp, taglm_plugin, torch; print('imports ok', torch.__version__, torch.cuda.get_device_name(0))" >> $W/done.txt 2>&1
timeout 420 python3 benchmarks/lm_throughput.py --data $W/wiki8.tar.xz --size paper --batch-size 2048 \
  --cache-dir /tmp/c --softmax-precision bfloat16 --char-cnn fused --warmup-steps 0 --steps 1 \
  --loader-batches 1 --perplexity-steps 200 --precisions float32,bfloat16_lstm_float32,float16 \
  --output $W/out/fp16_check.json > $W/out/fp16_check.log 2>&1
log "fp16 check rc=$?"
until [ -e $W/text/wikiAA.tar.xz ] && [ -e $W/text/wikiAB.tar.xz ]; do sleep 1; done
log text
RUNS=$W/runs bash benchmarks/gpu/lm_budget_ab.sh "$W/text/*.tar.xz" 180 128:0.001 512:0.001 512:0.002 1024:0.002 \
  > $W/out/lm_budget_ab.txt 2>&1
log "ab rc=$?"
touch $W/finished
