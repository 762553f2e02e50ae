#!/usr/bin/env bash
# send_text.sh ARCHIVE SECONDS: a device call carrying one Wikipedia archive, .gpuB/ARCHIVE
# (one call each: both archives and the checkout exceed the 64 MiB of a call), and with the
# first of them .gpuB/conll.tar.xz and .gpuB/glove_conll.txt.gz: hands what it carries to the
# waiting driver, which starts the study once all of it is there, then polls for SECONDS like
# poll.sh. ARCHIVE `-`: none, for a driver started with NO_LM_TEXT=1 (it fits into setup.sh's
# call: `... setup.sh OPTIONS && bash scripts/gpu_study/send_text.sh - SECONDS`).
set -e
for file in conll.tar.xz glove_conll.txt.gz "$1"; do
  if [ -e ".gpuB/$file" ]; then
    cp ".gpuB/$file" "/tmp/w/$file.tmp" && mv "/tmp/w/$file.tmp" "/tmp/w/$file"
  fi
done
bash /tmp/w/repo/scripts/gpu_study/poll.sh "$2"
