# Rangeset against Xen 4.17's own C (difftest/rangeset). The differential test itself runs in
# check-test (`cargo test --workspace`: `difftest rangeset: N ops compared, M unexplained
# divergences`) and the fuzz target rangeset_diff in check-fuzz; here: the benchmark.
#   make bench            C time / Rust time per operation kind at 4..4096 ranges (full run)
#   make check            prints a short run of the same ratios (not asserted)
CHECK_TARGETS += check-bench-rangeset

.PHONY: bench bench-rangeset check-bench-rangeset
bench: bench-rangeset

bench-rangeset:
	$(CARGO) bench -p difftest-rangeset --bench rangeset

check-bench-rangeset:
	$(CARGO) bench -p difftest-rangeset --bench rangeset -- --quick
