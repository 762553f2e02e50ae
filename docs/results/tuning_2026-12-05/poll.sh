#!/bin/bash
# poll.sh SECONDS: waits until plan.sh has finished or SECONDS have passed, keeping the latest
# pack of the results in $OUT/results.tar.xz, then shows the progress.
W=/tmp/w; end=$(( $(date +%s) + $1 ))
cd $W/repo
while ! grep -qs finished $W/done.txt && [ "$(date +%s)" -lt $end ]; do
  sleep 60
  W=$W bash -c 'source scripts/gpu_runs.sh; summary; pack' && cp $W/results.tar.xz "$OUT/"
done
W=$W bash -c 'source scripts/gpu_runs.sh; summary; pack' && cp $W/results.tar.xz "$OUT/"
cat $W/done.txt; (column -t $W/summary.tsv 2>/dev/null || cat $W/summary.tsv)
tail -3 $W/driver.log; tail -2 $W/runs/monitor/gpu.log
