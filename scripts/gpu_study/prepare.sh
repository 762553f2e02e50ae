#!/usr/bin/env bash
# prepare.sh: builds, on the development machine and from the checkout's root, what a study on
# the GPU host needs and the host lacks (it has no network; each device call carries at most
# 64 MiB with the checkout):
#   .gpuA/ (the first call): bundle.tar.xz (allennlp and what it needs,
#          ../shared/tools/offline_gpu_bundle.sh, 42.6 MB);
#   .gpuB/ (the second and third call): wikiAA.tar.xz, wikiAB.tar.xz (the two WikiExtractor
#          archives of ../shared/data/unlabeled, recompressed unchanged, 26.5 MB each; one a
#          call), conll.tar.xz (../shared/data/conll2003 and conll2000, 1.1 MB) and
#          glove_conll.txt.gz (the GloVe 6B 50d vectors of the CoNLL words, 4.7 MB: the
#          upload limit rules out the 400k-word table), both with wikiAA.tar.xz.
# Keep .gpuA/ and .gpuB/ out of git (.git/info/exclude). About 5.5 min on 2 cores (2026-12-03),
# after `make install` (export_glove_subset.py imports the plugin). Each call also carries the
# checkout's files (11.7 MB at 3bb178d; the limit: 64 MiB in all, so the first call has about
# 13 MB to spare: commit a study's per-run files as one runs.tar.xz, as docs/results/study_*).
set -euo pipefail
D=${DATA:-../shared/data}
mkdir -p .gpuA .gpuB
trap 'kill $(jobs -p) 2> /dev/null || true' EXIT  # a failed step stops the background ones too
bash ../shared/tools/offline_gpu_bundle.sh .gpuA/bundle.tar.xz > /tmp/gpu_bundle.log 2>&1 &
pids=($!)
tar cJf .gpuB/conll.tar.xz -C "$D" conll2003 conll2000
python3 scripts/export_glove_subset.py .gpuB/glove_conll.txt.gz "$D"/conll2003/eng.* "$D"/conll2000/*.txt
# Each archive: 26.5 MB and about 4 minutes of one core (measured 2026-12-03); both at once.
for part in AA AB; do
  (gzip -dc "$D/unlabeled/enwiki-wikiextractor-$part.tar.gz" | xz -9 > ".gpuB/wiki$part.tar.xz.tmp" &&
   mv ".gpuB/wiki$part.tar.xz.tmp" ".gpuB/wiki$part.tar.xz") &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done  # set -e: a failed one ends the script
du -b .gpuA/* .gpuB/*
