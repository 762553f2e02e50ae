#!/usr/bin/env bash
# prepare.sh: builds, on the development machine and from the checkout's root, what a study on
# the GPU host needs and the host lacks (it has no network; each device call carries at most
# 64 MiB with the checkout):
#   .gpuA/ (the first call): bundle.tar.xz (allennlp and what it needs,
#          ../shared/tools/offline_gpu_bundle.sh), conll.tar.xz (../shared/data/conll2003 and
#          conll2000), glove_conll.txt.gz (the GloVe 6B 50d vectors of the CoNLL words:
#          the upload limit rules out the 400k-word table);
#   .gpuB/ (the second call): wikiAA.tar.xz, wikiAB.tar.xz (the two WikiExtractor archives of
#          ../shared/data/unlabeled, recompressed unchanged).
# Keep .gpuA/ and .gpuB/ out of git (.git/info/exclude).
set -euo pipefail
D=${DATA:-../shared/data}
mkdir -p .gpuA .gpuB
bash ../shared/tools/offline_gpu_bundle.sh .gpuA/bundle.tar.xz > .gpuA.bundle.log 2>&1 &
bundle=$!
tar cJf .gpuA/conll.tar.xz -C "$D" conll2003 conll2000
python3 scripts/export_glove_subset.py .gpuA/glove_conll.txt.gz "$D"/conll2003/eng.* "$D"/conll2000/*.txt
for part in AA AB; do
  gzip -dc "$D/unlabeled/enwiki-wikiextractor-$part.tar.gz" | xz -T2 -9 > ".gpuB/wiki$part.tar.xz.tmp"
  mv ".gpuB/wiki$part.tar.xz.tmp" ".gpuB/wiki$part.tar.xz"
done
wait $bundle && rm .gpuA.bundle.log
du -b .gpuA/* .gpuB/*
