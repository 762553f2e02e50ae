#!/bin/bash
# call 1: copy the payload and the checkout to /tmp/w, start the driver in the background.
set -e
W=/tmp/w; mkdir -p $W/repo $W/data
cp .gpuA/* $W/
tar cf - --exclude=./.gpuA --exclude=./.gpuB --exclude=./.git . | tar xf - -C $W/repo
cd $W
setsid nohup bash $W/driver.sh > $W/driver.log 2>&1 < /dev/null &
sleep 3; cat $W/driver.log; nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv; nproc; df -h /tmp | tail -1
