#!/bin/bash
# results.tar.xz: every small file of the study (json, md, png, csv, txt) and the logs' tails.
W=/tmp/w; P=$W/packtmp; rm -rf $P; mkdir -p $P/study
cd $W/study && find . -type f \( -name '*.json' -o -name '*.md' -o -name '*.png' -o -name '*.csv' -o -name '*.txt' -o -name '*.tsv' \) -size -4M -exec cp --parents {} $P/study/ \; 
find . -type f -name '*.log' | while read f; do mkdir -p "$P/study/$(dirname "$f")"; tail -c 200000 "$f" > "$P/study/$f"; done
cp $W/done.txt $W/driver.log $P/ 2>/dev/null
tar cJf $W/results.tmp.tar.xz -C $P . && mv $W/results.tmp.tar.xz $W/results.tar.xz
