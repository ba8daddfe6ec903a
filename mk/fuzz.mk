# Every cargo-fuzz target is built and smoke-run (FUZZ_SECONDS each) by make check.
FUZZ_SECONDS ?= 15
CHECK_TARGETS += check-fuzz
.PHONY: check-fuzz
check-fuzz:
	scripts/fuzz-smoke $(FUZZ_SECONDS)
