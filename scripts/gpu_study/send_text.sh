#!/usr/bin/env bash
# send_text.sh SECONDS: the second device call (carry .gpuB): hands the Wikipedia archives to
# the waiting driver, then polls for SECONDS like poll.sh.
set -e
cp .gpuB/* /tmp/w/ && touch /tmp/w/text.ready
bash /tmp/w/repo/scripts/gpu_study/poll.sh "$1"
