#!/usr/bin/env bash
# The word-vocabulary comparison of docs/RESULTS.md on one GPU host (issue 11): NER baselines
# with the training-only vocabulary and the frozen pretrained table ('residual', 3 seeds; the
# paper's plain fine-tuning 'vectors', 2 seeds) and today's earlier design (vocabulary from
# train+dev, one fine-tuned table, 1 seed) side by side, the paper's full schedule, each
# model evaluated once on eng.testb. Run from the repository root, in the background:
#   W=/tmp/w setsid nohup bash docs/results/word_vocabulary/runs.sh > /tmp/w/driver.log 2>&1 &
# $W holds site/ (the allennlp bundle, unpacked), data/conll2003 and glove.6B.50d.txt; results go to
# $W/runs and $W/summary.tsv.
set -uo pipefail
W=${W:?set W}
export PYTHONPATH=$W/site:$PWD CUDA_DEVICE=0 CONLL2003_DIR=$W/data/conll2003
export GLOVE=$W/glove.6B.50d.txt OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
legacy='{"vocabulary": {"type": "from_instances"}, "datasets_for_vocab_creation": ["train", "validation"],
 "dataset_reader.token_indexers.tokens.pretrained_namespace": null,
 "model.text_field_embedder.token_embedders.tokens": {"type": "glove", "embedding_dim": 50,
   "pretrained_file": "'$GLOVE'", "trainable": true}}'
vectors='{"model.text_field_embedder.token_embedders.tokens.fine_tuning": "vectors"}'
run() {  # name seed overrides
  local dir=$W/runs/$1/seed$2
  mkdir -p "$dir"
  SEED=$2 python3 -m allennlp train training_configs/ner/baseline.jsonnet -s "$dir" -f \
    --include-package taglm_plugin -o "$3" > "$dir.train.log" 2>&1 &&
  python3 -m allennlp evaluate "$dir/model.tar.gz" "$CONLL2003_DIR/eng.testb" --cuda-device 0 \
    --include-package taglm_plugin --output-file "$dir/test_metrics.json" > "$dir.eval.log" 2>&1
  echo "$1 seed$2 rc=$?" >> "$W/done.txt"
}
for seed in 1 2 3; do run residual $seed '{}' & done
for seed in 1 2; do run vectors $seed "$vectors" & done
run legacy 1 "$legacy" &
wait
python3 - "$W" <<'PY' > "$W/summary.tsv"
import json, os, sys, glob
w = sys.argv[1]
print("config\tseed\tdev_f1\ttest_f1\tepochs\tbest_epoch\ttrain_s\tarchive_mb")
for d in sorted(p.rstrip("/") for p in glob.glob(f"{w}/runs/*/seed*/")):
    try:
        m = json.load(open(f"{d}/metrics.json")); t = json.load(open(f"{d}/test_metrics.json"))
    except OSError as e:
        print(d, "missing", e); continue
    print("\t".join(map(str, [d.split("/")[-2], d[-1], m["best_validation_f1-measure-overall"],
        t["f1-measure-overall"], m["epoch"] + 1, m["best_epoch"], m["training_duration"],
        round(os.path.getsize(f"{d}/model.tar.gz") / 1e6, 1)])))
PY
echo finished >> "$W/done.txt"
