#!/usr/bin/env bash
# poll.sh SECONDS: waits until the study has finished or SECONDS have passed, keeping the
# latest pack of the results in $OUT/results.tar.xz all the while (so that a call cut short by
# the device's time limit still brings the results back), then shows the progress.
end=$(( $(date +%s) + $1 ))
keep() { cp /tmp/w/results.tar.xz "$OUT/.results.tar.xz" 2>/dev/null && mv "$OUT/.results.tar.xz" "$OUT/results.tar.xz"; }
while [ ! -e /tmp/w/finished ] && [ "$(date +%s)" -lt $end ]; do keep; sleep 5; done
bash /tmp/w/repo/scripts/gpu_study/pack.sh
keep
cat /tmp/w/done.txt; tail -4 /tmp/w/study/study.log 2>/dev/null
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
