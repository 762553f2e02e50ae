#!/bin/bash
# poll.sh SECONDS: waits until plan.sh has finished or SECONDS have passed, keeping the latest
# pack of the results in $OUT/results.tar.xz (a call cut short still brings them back), then
# shows the progress.
W=/tmp/w; end=$(( $(date +%s) + $1 ))
cd $W/repo
keep() {
  W=$W bash -c 'source scripts/gpu_runs.sh; summary; pack' &&
    cp $W/results.tar.xz "$OUT/.results.tar.xz" && mv "$OUT/.results.tar.xz" "$OUT/results.tar.xz"
}
while ! grep -qsx finished $W/done.txt && [ "$(date +%s)" -lt $end ]; do
  sleep 30
  keep
done
keep
cat $W/done.txt | tail -40; (column -t $W/summary.tsv 2>/dev/null || cat $W/summary.tsv)
tail -3 $W/driver.log; tail -2 $W/runs/monitor/gpu.log
