#!/usr/bin/env bash
# poll.sh SECONDS: waits until the study has finished or SECONDS have passed, then packs the
# results into $OUT/results.tar.xz and shows the progress.
end=$(( $(date +%s) + $1 ))
while [ ! -e /tmp/w/finished ] && [ "$(date +%s)" -lt $end ]; do sleep 5; done
bash /tmp/w/repo/scripts/gpu_study/pack.sh
cp /tmp/w/results.tar.xz "$OUT/"
cat /tmp/w/done.txt; tail -4 /tmp/w/study/study.log 2>/dev/null
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
