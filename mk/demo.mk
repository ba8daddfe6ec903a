# The series' end-to-end demo (examples/secondary_emulator.rs): a secondary emulator hotplugs a
# PCI device into an HVM guest and serves its accesses through an ioreq server, in one process on
# the host platform. `make demo` runs it; `check-demo` also requires its exit status to be 0.
CHECK_TARGETS += check-demo
.PHONY: demo check-demo

## demo: run the secondary-emulator demo (prints every step; exits non-zero if one misbehaves).
demo:
	$(CARGO) run --quiet --example secondary_emulator

check-demo:
	@mkdir -p target; $(CARGO) run --quiet --example secondary_emulator > target/demo.log 2>&1; rc=$$?; \
	  tail -n 3 target/demo.log; \
	  if [ $$rc -ne 0 ]; then cat target/demo.log; echo "check-demo: exit status $$rc"; exit 1; fi; \
	  grep -q '^\[demo\] PASS' target/demo.log || { echo "check-demo: no PASS line"; exit 1; }; \
	  echo "check-demo: secondary_emulator exited 0"
