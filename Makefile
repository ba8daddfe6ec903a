# xen-ioreq-rs: two commands on a fresh machine.
#   make xen     the main job: a patched Xen 4.17 with the Rust inside (see mk/xen.mk)
#   make check   every test, the differential ones against Xen's own C included
# Component fragments in mk/*.mk add their targets to CHECK_TARGETS.

CARGO ?= cargo
export XEN_SRC_CACHE ?= $(CURDIR)/target/xen-src
# Lets cargo-fuzz and the few -Z flags the hypervisor build needs run on stable Rust.
export RUSTC_BOOTSTRAP ?= 1

CHECK_TARGETS := check-fmt check-clippy check-header check-test

.PHONY: all lib header setup check check-fmt check-clippy check-header check-test
all: lib

-include mk/*.mk

## lib: the staticlib (host build) and the C header; prints their paths.
lib:
	$(CARGO) build --release --lib
	@echo "lib: $(CURDIR)/target/release/libxen_ioreq_rs.a"
	@echo "header: $(CURDIR)/include/xen_ioreq_rs.h"

## header: refresh the checked-in header from cbindgen's output.
header:
	XEN_IOREQ_RS_WRITE_HEADER=1 $(CARGO) test --quiet --test header

## setup: install what the checks need (idempotent; root on Debian).
setup:
	@scripts/setup

# Each target runs on even after another failed; the run ends with a PASS/FAIL line per target.
check: setup
	@scripts/check-all $(CHECK_TARGETS)

check-fmt:
	$(CARGO) fmt --all -- --check
	cd fuzz && $(CARGO) fmt -- --check

# fuzz/ is a workspace of its own (cargo-fuzz): its targets are plain binaries, so clippy checks
# them on stable too (about 1 min the first time, a few seconds once built; its own fuzz/target).
check-clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd fuzz && $(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --release --lib --no-default-features --features xen -- -D warnings
	$(CARGO) clippy --release --lib --no-default-features --features xen,selftest -- -D warnings

check-header:
	$(CARGO) test --quiet --test header

check-test:
	$(CARGO) test --workspace
