#!/usr/bin/env bash
# TagLM speed figures on the GPU host (docs/GPU_RUNS.md), with LMs of LM_SIZE (default budget;
# `paper` for issue 15's items 3 and 4) pretrained for 30 s each in the same call by
# pretrain_lms.sh (speed does not depend on their quality): EPOCHS epochs of ner/baseline.jsonnet,
# ner/taglm.jsonnet and ner/taglm_cached.jsonnet (LM states cached: computed before epoch 1 by
# the cache's warm-up, and without it during epoch 1), both also with the LMs' token encoders
# in bf16, so that TagLM's epochs compare with the baseline's of the same call (the logs' tails
# in $OUT); tagging throughput of the TagLM archives (float32 and bf16) on the GPU and the CPU,
# and (unless KERNELS=0) the largest batch x length that fits and the CRF benchmark.
# Usage (repo root, GPU host):
#   GPU_DATA=.gpu/ner [LM_SIZE=paper] [KERNELS=0] [SPEED_RUNS="baseline taglm ..."] \
#     bash benchmarks/gpu/speed_taglm.sh TEXT EPOCHS
set -uo pipefail
source benchmarks/gpu/env.sh
source benchmarks/gpu/lib.sh
bash benchmarks/gpu/pretrain_lms.sh $1 30 | grep -E "exit|Wrote"
export LM_SIZE=${LM_SIZE:-budget}
export NUM_EPOCHS=$2 LM_STATE_DIM=$([ "$LM_SIZE" = paper ] && echo 512 || echo 256)
export FORWARD_LM=$PWD/runs/lm/forward/encoder.tar.gz BACKWARD_LM=$PWD/runs/lm/backward/encoder.tar.gz
rm -rf runs/speed && mkdir -p runs/speed  # no archive of an earlier call is benchmarked
# taglm_cached with the cache's warm-up before epoch 1 (the config's default) and without it
# (`_cold`: the states computed in the tagger's batches during epoch 1); `_bf16`: the LMs' token
# encoders under bf16 autocast (frozen_bilm's `precision`). SPEED_RUNS chooses among them.
for run in ${SPEED_RUNS:-baseline taglm taglm_cached taglm_cached_cold taglm_bf16 taglm_cached_bf16}; do
  config=${run%_cold} config=${config%_bf16}
  warmup=$([ "$run" = taglm_cached_cold ] && echo 0 || echo 512)
  # The baseline at TagLM's batch size (64; its config trains at 32), so that the epochs compare.
  overrides='"data_loader.batch_sampler.batch_size": 64'
  [[ $run == *_bf16 ]] && overrides+=', "model.lm_embedder.precision": "bfloat16"'
  LM_CACHE_WARMUP_BATCH_SIZE=$warmup python3 -m allennlp train \
    training_configs/ner/$config.jsonnet -s runs/speed/$run -f -o "{$overrides}" \
    --include-package taglm_plugin > runs/speed_$run.log 2>&1
  echo "$run: exit $?"
  tail -c 300000 runs/speed_$run.log > $OUT/speed_$run.log
  grep -E "Epoch duration|f1-measure-overall \||LM state cache warmed up" runs/speed_$run.log |
    tee -a $OUT/taglm_epochs.txt
done
for run in taglm taglm_bf16; do
  [ -e runs/speed/$run/model.tar.gz ] && tagging_throughput $run runs/speed/$run/model.tar.gz
done
[ "${KERNELS:-1}" = 0 ] && exit 0
timeout 200 python3 benchmarks/max_batch_length.py --lengths 124 1000 --json $OUT/max_batch_length.json 2>&1 | grep "|"
python3 benchmarks/crf_benchmark.py --device cuda --json $OUT/crf_benchmark_gpu.json 2>&1 | grep -E "x  |device"
