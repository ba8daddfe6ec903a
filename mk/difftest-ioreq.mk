# Differential tests of the ioreq servers against Xen 4.17's own C and Xen 4.14.6's (difftest/ioreq).
#   check-difftest-ioreq  the layout probe, the C-harness sanity tests and the differential tests
#                         against 4.17 and 4.14 (>= DIFFTEST_IOREQ_OPS operations each, 0
#                         unexplained divergences), with the summary lines shown; reuses
#                         check-test's debug build
#   check-bench-ioreq     a short run of the C-vs-Rust benchmark (a few seconds): its summary lines
#                         (ratios are printed, never asserted; a C/Rust disagreement fails it)
#   bench-ioreq           the full benchmark (also part of `make bench`): a table and
#                         `bench ioreq: min C/Rust select X, round trip Y`
# Xen's source comes from Debian (scripts/fetch-xen-src); without it the tests print SKIPPED, and
# fail if XEN_DIFF_REQUIRED=1 (CI).
DIFFTEST_IOREQ_OPS ?= 100000
CHECK_TARGETS += check-difftest-ioreq check-bench-ioreq
.PHONY: check-difftest-ioreq check-bench-ioreq bench-ioreq

check-difftest-ioreq:
	@mkdir -p target
	@rc=0; DIFFTEST_IOREQ_OPS=$(DIFFTEST_IOREQ_OPS) $(CARGO) test -p difftest-ioreq -- --nocapture --test-threads=1 >target/difftest-ioreq.log 2>&1 || rc=$$?; \
	grep -aoE '(difftest .*|^test result.*|^thread.*)' target/difftest-ioreq.log; \
	if [ $$rc -ne 0 ]; then echo "check-difftest-ioreq: FAILED (see target/difftest-ioreq.log)"; exit 1; fi; \
	if grep -aq 'SKIPPED' target/difftest-ioreq.log; then echo "check-difftest-ioreq: SKIPPED (no Xen source; XEN_DIFF_REQUIRED=1 makes this fail)"; exit 0; fi; \
	grep -aqE '(^|[.][.][.] )difftest ioreq: [0-9]+ ops compared, 0 unexplained divergences$$' target/difftest-ioreq.log || { echo "check-difftest-ioreq: no summary line"; exit 1; }; \
	grep -aqE '(^|[.][.][.] )difftest ioreq-4[.]14: [0-9]+ ops compared, 0 unexplained divergences$$' target/difftest-ioreq.log || { echo "check-difftest-ioreq: no 4.14 summary line"; exit 1; }

check-bench-ioreq:
	@mkdir -p target
	@BENCH_IOREQ_SHORT=1 $(CARGO) bench -p difftest-ioreq --bench ioreq >target/bench-ioreq.log 2>&1 || \
	  { tail -n 30 target/bench-ioreq.log; echo "check-bench-ioreq: FAILED (see target/bench-ioreq.log)"; exit 1; }
	@grep -E '^bench ioreq: (min|SKIPPED)|^bench ioreq instructions' target/bench-ioreq.log

bench-ioreq:
	$(CARGO) bench -p difftest-ioreq --bench ioreq
