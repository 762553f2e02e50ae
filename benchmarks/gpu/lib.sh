# Functions shared by the GPU scripts of benchmarks/gpu, scripts/gpu_runs.sh and
# scripts/gpu_study; it defines functions only (the environment is env.sh's). Sourced from the
# repository root:
#   source benchmarks/gpu/lib.sh

# train_lm DIRECTION SERIALIZATION_DIR KILL_AFTER LOG [OPTION ...]: trains the LM of
# training_configs/lm/DIRECTION.jsonnet (its variables from the environment: LM_SIZE,
# LM_TRAIN_DATA, LM_TIME_BUDGET_SECONDS, LM_CACHE_DIR, ...) into SERIALIZATION_DIR, with the
# further `allennlp train` OPTIONs (e.g. -o OVERRIDES), its output into LOG; returns its exit
# status. Training ends by its time budget; the kill after KILL_AFTER seconds only stops a hung
# process.
train_lm() {
  local direction=$1 dir=$2 kill_after=$3 log=$4
  shift 4
  timeout -s KILL "$kill_after" python3 -m allennlp train "training_configs/lm/$direction.jsonnet" \
    -s "$dir" -f --include-package taglm_plugin "$@" > "$log" 2>&1
}

# gpu_memory_monitor GPUMEM_CSV [GPU_CSV]: every 10 s, appends the GPU memory of each process
# (nvidia-smi's timestamp,pid,used_memory) to GPUMEM_CSV and, with GPU_CSV, the GPU's memory in
# use and utilization to GPU_CSV, in a background process of the calling shell ($! after the
# call, for `kill`); nvidia-smi's errors are dropped.
gpu_memory_monitor() {
  (while true; do
     nvidia-smi --query-compute-apps=timestamp,pid,used_memory --format=csv,noheader >> "$1"
     [ -z "${2:-}" ] ||
       nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader >> "$2"
     sleep 10
   done) > /dev/null 2>&1 &  # (its sleep, left behind by the kill, holds no output open)
}

# tagging_throughput NAME ARCHIVE: benchmarks/predict_throughput.py of the model ARCHIVE on
# $CONLL2003_DIR/eng.testa on the GPU (device 0), then on the CPU (in this process and with one
# worker process per core, side by side), each into $OUT/predict_NAME_deviceDEVICE.json; prints
# each one's sentences_per_second lines. Timed passes after the warm-up: 3, on the CPU
# CPU_TAGGING_REPEATS (default 3). On the GPU, one more pass under torch.profiler:
# $OUT/predict_NAME_profile.txt.
tagging_throughput() {
  local name=$1 archive=$2 device
  for device in 0 -1; do
    python3 benchmarks/predict_throughput.py "$archive" "$CONLL2003_DIR/eng.testa" \
      --cuda-device $device --repeats $( ((device < 0)) && echo "${CPU_TAGGING_REPEATS:-3}" || echo 3) \
      $( ((device >= 0)) && echo --profile "$OUT/predict_${name}_profile.txt") \
      > "$OUT/predict_${name}_device$device.json" 2>/dev/null
    grep sentences_per_second "$OUT/predict_${name}_device$device.json"
  done
}
