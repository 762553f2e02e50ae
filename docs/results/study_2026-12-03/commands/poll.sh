#!/bin/bash
# poll.sh SECONDS: waits until the study is finished or SECONDS have passed, packs, copies to $OUT.
end=$(( $(date +%s) + $1 ))
while [ ! -e /tmp/w/finished ] && [ $(date +%s) -lt $end ]; do sleep 5; done
bash /tmp/w/pack.sh
cp /tmp/w/results.tar.xz "$OUT/"
cat /tmp/w/done.txt; tail -5 /tmp/w/study/study*.log; nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv
