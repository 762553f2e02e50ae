#!/usr/bin/env bash
# One GPU host, started by setup.sh (W=/tmp/w): dev tuning of both baselines (issue 11) on how
# far a training epoch moves the weights. The baselines learn slowly at the configs' 64
# sentences and Adam at 0.001 (chunking: dev F1 61.5 after epoch 1, still rising at epoch
# 38 of its 50-epoch bound, where TagLM is at 91.4 after epoch 1; results/study_2026-12-04),
# so each task trains these variants (VARIANTS), seeds 1-3 (SEEDS) each, all in one run:
#   default  the configs as they are (batch 64, lr 0.001);
#   bs32     batches of 32 sentences (twice the updates per epoch, noisier gradients);
#   lr2      Adam at 0.002 (the schedule's two drops then go to 0.0002 and 0.00002).
# Per task, select.py keeps the variant with the highest mean dev F1 over the seeds (test F1
# is not read); only then are the kept variant's models and the default's (the same-run
# reference) evaluated, once each, on the test file. No other variant is evaluated on test.
# Word vectors: the GloVe 6B 50d subset of the CoNLL words, as in the studies.
export OMP_NUM_THREADS=1 GLOVE=$W/glove_conll.txt.gz
source scripts/gpu_runs.sh
wait_for "$GLOVE"  # data.sh puts the CoNLL data first, the vectors last
T=docs/results/tuning_2026-12-07
# `SEEDS="1 2" VARIANTS="bs32 default"` (setup.sh's environment) runs fewer.
read -ra SEEDS <<< "${SEEDS:-1 2 3}"
read -ra VARIANTS <<< "${VARIANTS:-bs32 default lr2}"
# Trainings at once: one per 9.5 GB of GPU memory (a tagger's peak, PyTorch's cache included,
# was at most 10.4 GB beside 11 others), at most 13 of the host's 16 cores.
memory=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
MAX_TRAININGS=${MAX_TRAININGS:-$(( memory / 9500 < 13 ? memory / 9500 : 13 ))}
[ "$MAX_TRAININGS" -ge 1 ] || MAX_TRAININGS=1
echo "$(date +%T) ${memory} MiB: ${MAX_TRAININGS} trainings at once" >> "$W/done.txt"
monitor=$(gpu_monitor)

declare -A OVERRIDES=(
  [default]='{}'
  [bs32]='{"data_loader.batch_sampler.batch_size": 32}'
  [lr2]='{"trainer.optimizer.lr": 0.002}'
)
declare -A PIDS=([ner]="" [chunking]="")
for variant in "${VARIANTS[@]}"; do
  if [ -z "${OVERRIDES[$variant]+set}" ]; then
    echo "$(date +%T) VARIANTS: unknown variant $variant (${!OVERRIDES[*]})" >> "$W/done.txt"
    echo finished >> "$W/done.txt"
    exit 2
  fi
done

# In the order of VARIANTS (the longest first: batches of 32), chunking (more epochs) before NER.
queue=()
for variant in "${VARIANTS[@]}"; do
  for task in chunking ner; do
    for seed in "${SEEDS[@]}"; do queue+=("$task $variant $seed"); done
  done
done
for job in "${queue[@]}"; do
  read -r task variant seed <<< "$job"
  at_most "$MAX_TRAININGS"
  train_tagger "$variant" "$task" baseline "$seed" "${OVERRIDES[$variant]}" &
  PIDS[$task]+=" $!"
done

select_and_evaluate() {  # TASK: once its trainings have ended
  local task=$1 best seed variant evaluations=()
  # shellcheck disable=SC2086
  wait ${PIDS[$task]}
  summary "$W/$task.tsv"
  best=$(python3 "$T/select.py" "$W/$task.tsv" "$task" "${SEEDS[@]}" 2>> "$W/done.txt") ||
    best=default
  echo "$(date +%T) $task selected $best" >> "$W/done.txt"
  for variant in $(printf '%s\n' default "$best" | sort -u); do
    for seed in "${SEEDS[@]}"; do
      at_most "$MAX_TRAININGS"
      evaluate_tagger "$variant" "$task" "$seed" &
      evaluations+=($!)
    done
  done
  wait "${evaluations[@]}"
}
# The tasks in turn (chunking's trainings take longer): NER's wait for chunking's evaluations
# (about 20 s each, all at once) at most.
select_and_evaluate chunking
select_and_evaluate ner
summary; pack
echo finished >> "$W/done.txt"
kill "$monitor"
