#!/bin/bash
# poll.sh SECONDS: waits until plan.sh has finished or SECONDS have passed, then packs the
# results into $OUT/results.tar.xz and shows the progress.
W=/tmp/w; end=$(( $(date +%s) + $1 ))
until grep -qs finished $W/done.txt || [ "$(date +%s)" -ge $end ]; do sleep 5; done
cd $W/repo && W=$W bash -c 'source scripts/gpu_runs.sh; summary; pack'
cp $W/results.tar.xz "$OUT/"
cat $W/done.txt; (column -t $W/summary.tsv 2>/dev/null || cat $W/summary.tsv); tail -3 $W/driver.log; tail -2 $W/runs/monitor/gpu.log
