#!/usr/bin/env bash
# pack.sh: /tmp/w/results.tar.xz: every small file of the study (json, md, png, csv, txt, tsv),
# the logs' tails, done.txt and driver.log; written whole or not at all.
W=/tmp/w; P=$(mktemp -d $W/pack.XXXXXX); mkdir -p $P/study
if [ -d $W/study ]; then
  cd $W/study
  find . -type f \( -name '*.json' -o -name '*.md' -o -name '*.png' -o -name '*.csv' -o -name '*.txt' -o -name '*.tsv' \) \
    -size -4M -exec cp --parents {} $P/study/ \;
  find . -type f -name '*.log' | while read -r f; do
    mkdir -p "$P/study/$(dirname "$f")" && tail -c 200000 "$f" > "$P/study/$f"
  done
fi
cp $W/done.txt $W/driver.log $W/study_options $P/ 2>/dev/null
tar cJf $P.tar.xz -C $P . && mv $P.tar.xz $W/results.tar.xz
rm -rf $P
