#!/usr/bin/env bash
# send_text.sh ARCHIVE SECONDS: a device call carrying one Wikipedia archive, .gpuB/ARCHIVE
# (one call each: both archives and the checkout exceed the 64 MiB of a call): hands it to the
# waiting driver, which starts the study once both are there, then polls for SECONDS like
# poll.sh.
set -e
cp ".gpuB/$1" "/tmp/w/$1.tmp" && mv "/tmp/w/$1.tmp" "/tmp/w/$1"
bash /tmp/w/repo/scripts/gpu_study/poll.sh "$2"
