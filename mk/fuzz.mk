# Every cargo-fuzz target is built and smoke-run (FUZZ_SECONDS each) by make check, after its
# checked-in crash inputs (fuzz/regressions/) are replayed; `check-cflite` builds them the
# ClusterFuzzLite way (.clusterfuzzlite/build.sh) with the engine's variables set.
FUZZ_SECONDS ?= 15
CHECK_TARGETS += check-fuzz check-cflite
.PHONY: check-fuzz check-cflite fuzz-campaign fuzz-coverage fuzz-report
check-fuzz:
	scripts/fuzz-smoke $(FUZZ_SECONDS)

check-cflite:
	scripts/cflite-check

## fuzz-campaign: every target (or FUZZ_TARGETS) for FUZZ_CAMPAIGN_SECONDS each (differential
## ones FUZZ_DIFF_SECONDS, under ASan), corpus merged; figures into fuzz/campaigns.tsv, then
## FUZZING.md.
FUZZ_CAMPAIGN_SECONDS ?= 300
FUZZ_TARGETS ?=
fuzz-campaign:
	scripts/fuzz-campaign $(FUZZ_CAMPAIGN_SECONDS) $(FUZZ_TARGETS)
	scripts/fuzz-report

## fuzz-coverage: line coverage of src/ by the corpora (cargo fuzz coverage + llvm-cov).
fuzz-coverage:
	scripts/fuzz-coverage
	scripts/fuzz-report

## fuzz-report: FUZZING.md's table from fuzz/campaigns.tsv and fuzz/coverage.tsv.
fuzz-report:
	scripts/fuzz-report
