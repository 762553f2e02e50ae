#!/usr/bin/env bash
# poll.sh SECONDS: waits until the job has finished or SECONDS have passed, packing every 10 s.
end=$(( $(date +%s) + $1 ))
while [ ! -e /tmp/w/finished ] && [ "$(date +%s)" -lt $end ]; do bash /tmp/w/pack.sh; sleep 10; done
bash /tmp/w/pack.sh
cat /tmp/w/done.txt; tail -12 /tmp/w/out/lm_budget_ab.txt 2>/dev/null
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
