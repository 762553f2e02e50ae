#!/bin/bash
# One call: the GPU-only tests, then the token-cache benchmark on this host's cores.
W=/tmp/w; mkdir -p $W/site $OUT/r
tar xJf .gpuC/bundle.tar.xz -C $W/site && xz -dc .gpuC/aa20.tar.xz > $W/aa20.tar
export PYTHONPATH=$W/site/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv > $OUT/r/device.txt; nproc >> $OUT/r/device.txt; git log -1 --format=%H >> $OUT/r/device.txt 2>/dev/null
timeout 150 python3 -m pytest -q -rs $GPU_TESTS > $OUT/r/gpu_tests.log 2>&1; echo "rc=$?" >> $OUT/r/gpu_tests.log
tail -15 $OUT/r/gpu_tests.log
OMP_NUM_THREADS=1 timeout 100 python3 benchmarks/lm_token_cache_speed.py $W/aa20.tar --processes 0 --output $OUT/r/lm_token_cache_speed.json > $OUT/r/lm_token_cache_speed.log 2>&1
tail -20 $OUT/r/lm_token_cache_speed.log
