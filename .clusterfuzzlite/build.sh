#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: every cargo-fuzz target of fuzz/ into $OUT, each with its
# checked-in seeds as $OUT/<target>_seed_corpus.zip. The engine sets $SRC, $OUT, $WORK and
# $SANITIZER; scripts/cflite-check runs this file here with them set to scratch folders.
cd "$SRC/xen-ioreq-rs"
export RUSTC_BOOTSTRAP=1
# Xen's C of the differential targets is fetched into the scratch area and, for an ASan build,
# instrumented too (difftest/*/build.rs).
export XEN_SRC_CACHE=${XEN_SRC_CACHE:-$WORK/xen-src}
case "${SANITIZER:-address}" in
  address) san=address; export XEN_C_SANITIZE=address ;;
  memory | thread | leak) san=$SANITIZER ;;
  # undefined, coverage, none: the base image's RUSTFLAGS carry what applies.
  *) san=none ;;
esac
# One cargo target dir per sanitizer, so switching does not rebuild the other.
target_dir=$WORK/cargo-fuzz-$san
targets=$(cd fuzz && cargo fuzz list)
[ -n "$targets" ] || { echo "build.sh: 'cargo fuzz list' lists no target" >&2; exit 1; }
for t in $targets; do
  if [ -z "$(find "fuzz/corpus/$t" -maxdepth 1 -type f 2>/dev/null | head -n1)" ]; then
    echo "build.sh: target $t has no seeds in fuzz/corpus/$t (every target needs some)" >&2
    exit 1
  fi
done
(cd fuzz && cargo fuzz build -O --sanitizer "$san" --target-dir "$target_dir")
bin=$target_dir/$(rustc -vV | sed -n 's/^host: //p')/release
for t in $targets; do
  seeds=fuzz/corpus/$t
  cp "$bin/$t" "$OUT/$t"
  python3 - "$OUT/${t}_seed_corpus.zip" "$seeds" <<'PY'
import os, sys, zipfile
out, seeds = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(seeds)):
        path = os.path.join(seeds, name)
        if os.path.isfile(path):
            z.write(path, name)
PY
done
echo "build.sh: $(echo "$targets" | wc -w) targets and their seed corpora in $OUT"
