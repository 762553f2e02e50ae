#!/usr/bin/env bash
# Speed figures without LMs on the GPU host (docs/GPU_RUNS.md): the CRF benchmark, EPOCHS
# epochs of the NER baseline on taglm_tagger and on allennlp-models' crf_tagger (same
# architecture), tagging throughput on the GPU and the CPU, and a profile of one baseline epoch.
# Usage (repo root, GPU host): GPU_DATA=.gpu/ner [PROFILE=0] bash benchmarks/gpu/speed_baseline.sh EPOCHS
set -uo pipefail
source benchmarks/gpu/env.sh
source benchmarks/gpu/lib.sh
epochs=$1
mkdir -p runs/speed
python3 benchmarks/crf_benchmark.py --device cuda --json $OUT/crf_benchmark_gpu.json 2>&1 | grep -v nltk | tail -14
for config in training_configs/ner/baseline.jsonnet benchmarks/configs/allennlp_models_crf_tagger.jsonnet; do
  name=$(basename $config .jsonnet)
  NUM_EPOCHS=$epochs python3 -m allennlp train $config -s runs/speed/$name -f \
    --include-package taglm_plugin > runs/speed_$name.log 2>&1
  echo "$name: exit $?"
  cp runs/speed/$name/metrics.json $OUT/${name}_metrics.json
  grep -E "Epoch duration|f1-measure-overall \|" runs/speed_$name.log | tee -a $OUT/epochs.txt
done
tagging_throughput baseline runs/speed/baseline/model.tar.gz
[ "${PROFILE:-1}" = 1 ] || exit 0
NUM_EPOCHS=1 python3 -m cProfile -o runs/baseline_epoch.prof -m allennlp train \
  training_configs/ner/baseline.jsonnet -s runs/speed/profile -f --include-package taglm_plugin > /dev/null 2>&1
python3 -c "import pstats; pstats.Stats('runs/baseline_epoch.prof').sort_stats('tottime').print_stats(30)" > $OUT/baseline_epoch_profile.txt
head -60 $OUT/baseline_epoch_profile.txt | tail -42
