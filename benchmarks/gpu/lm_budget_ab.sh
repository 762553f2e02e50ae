#!/usr/bin/env bash
# LM quality for a fixed training time (issues 14 and 15): the `budget` preset's forward and
# backward LMs trained side by side, as `allennlp taglm-study` trains them (by default bf16,
# bf16 sampled-softmax products, the configs' other defaults), for SECONDS each, once per VARIANT
# BATCH:LR (sentences per batch, Adam's learning rate), one variant after the other so that
# each pair has the GPU to itself. Every variant validates and checks its time budget after
# the same EPOCH_SENTENCES training sentences (default 256,000: 2000 batches of 128, 500 of
# 512, ...), on the same held-out sentences in batches of 128 (the configs' validation). Prints, per variant and
# direction, the held-out perplexity after each of these "epochs" with its training seconds
# and tokens, and writes it to RUNS/summary.json; GPU memory per process every 10 s to
# RUNS/gpumem.csv. Exits 1 if a training failed (after the summary of the others).
# Usage (repo root, GPU host, allennlp importable, e.g. after `source benchmarks/gpu/env.sh`):
#   RUNS=runs/lm_budget_ab bash benchmarks/gpu/lm_budget_ab.sh TEXT SECONDS BATCH:LR [...]
#   e.g. bash benchmarks/gpu/lm_budget_ab.sh '/data/text/*.tar.xz' 180 128:0.001 512:0.002
# TEXT is the LMs' LM_TRAIN_DATA (a file or a glob); the token caches in CACHES/cache_DIRECTION
# (CACHES: default RUNS; the caches depend on the text only, so runs of other presets or
# precisions on the same text may share them) are built by the first variant and read by the
# others. LM_SIZE (default budget),
# LM_PRECISION and LM_SOFTMAX_PRECISION (default bfloat16), CUDA_DEVICE (default 0) and the
# configs' other variables pass through (LM_SIZE=small CUDA_DEVICE=-1 runs it on a CPU;
# LM_PRECISION=float16 LM_LSTM_PRECISION=mixed trains with a loss scaler, the LSTMs in fp16).
set -uo pipefail
source benchmarks/gpu/lib.sh
if [ $# -lt 3 ]; then
  echo "usage: $0 TEXT SECONDS BATCH:LR [BATCH:LR ...]" >&2
  exit 2
fi
text=$1 seconds=$2 epoch_sentences=${EPOCH_SENTENCES:-256000}
shift 2
for variant in "$@"; do
  if ! [[ $variant =~ ^[1-9][0-9]*:[0-9]+(\.[0-9]+)?(e-?[0-9]+)?$ ]] ||
     (( epoch_sentences % ${variant%%:*} != 0 )); then
    echo "variant '$variant': expected BATCH:LR with BATCH dividing $epoch_sentences, e.g. 512:0.002" >&2
    exit 2
  fi
done
runs=${RUNS:-runs/lm_budget_ab}
failed=0
mkdir -p "$runs"
export PYTHONUNBUFFERED=1 LM_SIZE=${LM_SIZE:-budget} LM_TRAIN_DATA=$text
export LM_TIME_BUDGET_SECONDS=$seconds LM_PRECISION=${LM_PRECISION:-bfloat16}
export LM_SOFTMAX_PRECISION=${LM_SOFTMAX_PRECISION:-bfloat16}
export CUDA_DEVICE=${CUDA_DEVICE:-0}
gpu_memory_monitor "$runs/gpumem.csv"
monitor=$!
trap 'kill $monitor 2> /dev/null' EXIT
for variant in "$@"; do
  batch=${variant%%:*} lr=${variant#*:}
  overrides="{\"data_loader.batch_size\": $batch,
              \"data_loader.batches_per_epoch\": $(( epoch_sentences / batch )),
              \"trainer.optimizer.lr\": $lr}"
  pids=()
  for direction in forward backward; do
    LM_CACHE_DIR=${CACHES:-$runs}/cache_$direction train_lm $direction "$runs/$variant/$direction" \
      $(( seconds + 600 )) "$runs/${variant/:/_}_$direction.log" -o "$overrides" &
    pids+=($!)
  done
  for index in 0 1; do
    wait "${pids[$index]}"
    status=$?
    (( status == 0 )) || failed=1
    echo "$variant $([ $index = 0 ] && echo forward || echo backward): exit $status"
  done
done
python3 - "$runs" "$@" <<'PY'
import json, sys
from pathlib import Path
from taglm_plugin.study.results import duration_seconds, per_epoch

runs, variants = Path(sys.argv[1]), sys.argv[2:]
summary = {}
for variant in variants:
    for direction in ("forward", "backward"):
        directory = runs / variant / direction
        epochs = []
        for metrics, throughput in zip(
            per_epoch(directory, "metrics_epoch"), per_epoch(directory, "throughput_epoch")
        ):
            epochs.append({
                "seconds": round(duration_seconds(metrics["training_duration"]), 1),
                "tokens_seen": throughput["tokens_seen"],
                "tokens_per_second": round(throughput["tokens_per_second"]),
                "perplexity": round(metrics["validation_perplexity"], 2),
            })
        summary[f"{variant} {direction}"] = epochs
        print(f"{variant} {direction}:", " | ".join(
            f"{e['seconds']:.0f} s, {e['tokens_seen'] / 1e6:.1f}M tokens, ppl {e['perplexity']:.1f}"
            for e in epochs
        ) or "no epoch finished", f"({epochs[-1]['tokens_per_second']:,} tokens/s)" if epochs else "")
(runs / "summary.json").write_text(json.dumps(summary, indent=1))
PY
(( $? == 0 )) || failed=1
exit $(( failed ))
