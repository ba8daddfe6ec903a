# Rangeset against Xen 4.17's own C (difftest/rangeset). The differential test itself runs in
# check-test (`cargo test --workspace`: `difftest rangeset: N ops compared, M unexplained
# divergences`) and the fuzz target rangeset_diff in check-fuzz; here: the benchmark.
#   make bench            both benchmarks in full (this one and bench-ioreq): tables and the
#                         summary lines `bench rangeset: min C/Rust n=4 X, n=256 Y, n=4096 Z`
#   make check            a short run of this one (a few seconds): its summary lines. A benchmark
#                         prints ratios; only a disagreement between C and Rust fails it.
# Both sides are called through their C entry points from one C driver (difftest/rangeset/c/
# bench.c); instruction counts come from callgrind when valgrind is installed.
CHECK_TARGETS += check-bench-rangeset

.PHONY: bench bench-rangeset check-bench-rangeset
bench: bench-rangeset bench-ioreq

bench-rangeset:
	$(CARGO) bench -p difftest-rangeset --bench rangeset

check-bench-rangeset:
	@mkdir -p target
	@$(CARGO) bench -p difftest-rangeset --bench rangeset -- --quick >target/bench-rangeset.log 2>&1 || \
	  { tail -n 30 target/bench-rangeset.log; echo "check-bench-rangeset: FAILED (see target/bench-rangeset.log)"; exit 1; }
	@grep -E '^bench rangeset( instructions)?: (min|SKIPPED)' target/bench-rangeset.log
