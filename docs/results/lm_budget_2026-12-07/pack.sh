#!/usr/bin/env bash
# Packs the job's small outputs into $OUT/r.tar.xz.
W=/tmp/w; cd $W || exit 0
P=$(mktemp -d)
{ ls done.txt job.log out/* runs/gpumem.csv runs/summary.json 2>/dev/null
  find runs \( -name 'metrics_epoch_*.json' -o -name 'throughput_epoch_*.json' -o -name config.json -o -name metrics.json \) 2>/dev/null
} | while read -r f; do mkdir -p "$P/$(dirname "$f")"; cp "$f" "$P/$f"; done
for f in runs/*.log; do [ -e "$f" ] && tail -c 100000 "$f" > "$P/$f"; done
tar cJf $W/r.tar.xz -C $P . && cp $W/r.tar.xz "$OUT/.r" && mv "$OUT/.r" "$OUT/r.tar.xz"
rm -rf "$P"
