# The live test (live/, issue 9): the shared model and the emulator are workspace members (their
# tests, fmt and clippy run with the rest); the guest is a freestanding crate outside the
# workspace, checked here, and booted alone under QEMU as a smoke test. The run on Xen itself is
# part of `make boot` (scripts/xen-boot runs scripts/live-build and /opt/xen-ioreq-rs/run-live).
CHECK_TARGETS += check-live

.PHONY: live check-live

## live: the guest, the static emulator, run-live and guest.cfg in target/live/.
live:
	scripts/live-build

check-live: live
	cd live/guest && $(CARGO) fmt -- --check
	cd live/guest && CARGO_TARGET_DIR=$(CURDIR)/target/live-guest $(CARGO) clippy --release --locked -- -D warnings
	scripts/live-guest-smoke
