#!/bin/bash
# data.sh SECONDS: the second device call, carrying .gpuB/conll.tar.xz and
# .gpuB/glove_conll.txt.gz, from the checkout's root: puts the
# CoNLL data and the word vectors where plan.sh waits for them (the vectors last, by rename),
# then waits like poll.sh.
set -e
W=/tmp/w
tar xJf .gpuB/conll.tar.xz -C $W/data
cp .gpuB/glove_conll.txt.gz $W/.glove.tmp && mv $W/.glove.tmp $W/glove_conll.txt.gz
bash $W/repo/docs/results/tuning_2026-12-07/poll.sh "$1"
