#!/usr/bin/env bash
# Functions for the accuracy runs of docs/RESULTS.md on one GPU host, sourced by a plan (e.g.
# docs/results/accuracy_2026-12-03/plan.sh) run from the repository root in the background:
#   W=/tmp/w setsid nohup bash PLAN > /tmp/w/driver.log 2>&1 &
# $W holds site/ (the allennlp bundle of ../shared/tools/offline_gpu_bundle.sh, unpacked),
# data/conll2003, data/conll2000, glove.6B.50d.txt and the unlabeled text; the plan waits for
# each with `wait_for`. Each model is selected on dev by its training; `tagger` also evaluates it
# once on its test file, `train_tagger` alone (dev tuning) does not. `summary` writes
# $W/summary.tsv and `pack` $W/results.tar.xz (metrics, logs' tails).
set -uo pipefail
source benchmarks/gpu/lib.sh
W=${W:?set W}
export PYTHONPATH=$W/site:$PWD CUDA_DEVICE=${CUDA_DEVICE:-0} PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export CONLL2003_DIR=$W/data/conll2003 CONLL2000_DIR=$W/data/conll2000 GLOVE=${GLOVE:-$W/glove.6B.50d.txt}

wait_for() {  # path: returns once it exists
  until [ -e "$1" ]; do sleep 2; done
}

# train_tagger NAME TASK CONFIG SEED [OVERRIDES]: trains CONFIG (training_configs/TASK/CONFIG.jsonnet,
# or a path ending in .jsonnet) with SEED into $W/runs/TASK/NAME/seedSEED; the model is the one
# of the best dev epoch. Nothing is evaluated on test.
train_tagger() {
  local name=$1 task=$2 config=$3 seed=$4 overrides=${5:-'{}'}
  case $config in *.jsonnet) ;; *) config=training_configs/$task/$config.jsonnet ;; esac
  local dir=$W/runs/$task/$name/seed$seed
  mkdir -p "$dir"
  SEED=$seed python3 -m allennlp train "$config" -s "$dir" -f \
    --include-package taglm_plugin -o "$overrides" > "$dir.train.log" 2>&1
  local rc=$?
  echo "$(date +%T) $task $name seed$seed train rc=$rc" >> "$W/done.txt"
  rm -f "$dir"/model_state_e*.th "$dir"/training_state_e*.th
  return $rc
}

# evaluate_tagger NAME TASK SEED: evaluates the model of train_tagger once on the task's test file.
evaluate_tagger() {
  local name=$1 task=$2 seed=$3 test
  case $task in
    ner) test=$CONLL2003_DIR/eng.testb ;;
    chunking) test=$CONLL2000_DIR/test.txt ;;
    *) echo "unknown task $task" >&2; return 2 ;;
  esac
  local dir=$W/runs/$task/$name/seed$seed
  python3 -m allennlp evaluate "$dir/model.tar.gz" "$test" --cuda-device "$CUDA_DEVICE" \
    --include-package taglm_plugin --output-file "$dir/test_metrics.json" > "$dir.eval.log" 2>&1
  local rc=$?
  echo "$(date +%T) $task $name seed$seed evaluate rc=$rc" >> "$W/done.txt"
  return $rc
}

# tagger NAME TASK CONFIG SEED [OVERRIDES]: train_tagger, then evaluate_tagger.
tagger() {
  train_tagger "$@" && evaluate_tagger "$1" "$2" "$4"
}

# at_most N: waits until fewer than N of this shell's background jobs run.
at_most() {
  while [ "$(jobs -rp | wc -l)" -ge "$1" ]; do wait -n; done
}

# lm DIRECTION SECONDS TEXT [OVERRIDES]: pretrains the `budget` LM of training_configs/lm for
# SECONDS on TEXT (a glob) into $W/runs/lm/DIRECTION, with its own token cache, and exports its
# encoder ($W/runs/lm/DIRECTION/encoder.tar.gz, float32).
lm() {
  local direction=$1 seconds=$2 text=$3 overrides=${4:-'{}'} dir=$W/runs/lm/$1
  mkdir -p "$dir"
  LM_SIZE=budget LM_TRAIN_DATA=$text LM_TIME_BUDGET_SECONDS=$seconds \
  LM_PRECISION=bfloat16 LM_SOFTMAX_PRECISION=bfloat16 LM_CACHE_DIR=$W/lm_cache/$direction \
    train_lm "$direction" "$dir" $((seconds + 300)) "$dir.train.log" -o "$overrides"
  local rc=$?
  python3 -m taglm_plugin.commands.export_lm "$dir/model.tar.gz" "$dir/encoder.tar.gz" \
    >> "$dir.train.log" 2>&1
  echo "$(date +%T) lm $direction rc=$rc export rc=$?" >> "$W/done.txt"
}

# monitor=$(gpu_monitor): logs the GPU's memory and utilization every 15 s to
# $W/runs/monitor/gpu.log in a background process, which is no job of the calling shell
# (`at_most` does not count it); prints its process id, for `kill`.
gpu_monitor() {
  mkdir -p "$W/runs/monitor"
  (while true; do
     nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader
     sleep 15
   done) >> "$W/runs/monitor/gpu.log" 2>&1 &
  echo $!
}

summary() {  # [FILE]: the table of every run's figures, into FILE (default $W/summary.tsv)
  local out=${1:-$W/summary.tsv}
  python3 - "$W" <<'PY' > "$out.$$" && mv "$out.$$" "$out"
import glob, json, os, sys
w = sys.argv[1]
print("task\tname\tseed\tdev_f1\ttest_f1\tepochs\tbest_epoch\ttraining_duration")
for d in sorted(glob.glob(f"{w}/runs/*/*/seed*")):
    if not os.path.isdir(d):
        continue
    task, name, seed = d.split("/")[-3:]
    try:
        m = json.load(open(f"{d}/metrics.json"))
    except (OSError, ValueError) as e:
        print(task, name, seed, "missing", type(e).__name__, sep="\t")
        continue
    try:
        test_f1 = json.load(open(f"{d}/test_metrics.json"))["f1-measure-overall"]
    except OSError:  # trained for dev only
        test_f1 = "-"
    print(task, name, seed[4:], m["best_validation_f1-measure-overall"], test_f1,
          m["epoch"] + 1, m["best_epoch"], m["training_duration"], sep="\t")
PY
}

pack() {  # the metrics, the summary and the logs' last lines, as $W/results.tar.xz
  local staging
  staging=$(mktemp -d "$W/pack.XXXXXX")
  (cd "$W" && find runs -name '*.json' -size -2M -exec cp --parents {} "$staging" \;)
  (cd "$W" && for log in runs/*/*/*.log runs/*/*.log; do
     [ -e "$log" ] && mkdir -p "$staging/$(dirname "$log")" && tail -c 20000 "$log" > "$staging/$log"
   done)
  cp "$W"/*.tsv "$W"/done.txt "$W"/driver.log "$staging" 2>/dev/null
  tar cJf "$staging.tar.xz" -C "$staging" . && mv "$staging.tar.xz" "$W/results.tar.xz"
  rm -rf "$staging"
}
