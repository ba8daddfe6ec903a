# Xen 4.17 with the Rust inside (issue 5). Build dirs and caches live under target/xen-build/.
#   make xen            patched Xen, CONFIG_RUST_IOREQ=y (+ self-test), Rust archive linked, checked
#   make xen-stock      the unpatched Xen (defconfig): the boot test's reference
#   make xen-off        patched Xen with the option off, compared object by object with the stock one (X2)
#   make boot           both under QEMU with a Debian dom0 (scripts/dom0-image): rangeset dumps
#                       compared (PV and PVH dom0), self-test verdicts, the live guest's I/O
#   make dom0-image     dom0's initramfs alone (target/dom0/rootfs.cpio.gz)
#   make dom0-shell     the Rust Xen under QEMU, you at dom0's shell (scripts/dom0-shell)
#   make boot-debug     the same with a CONFIG_DEBUG=y patched Xen (assertions, lock checks; not in check)
#   make xen-size       the Rust object's code against the C it replaces (the size line of make
#                       xen), with and without the self-test, per component (scripts/xen-rust-size)
CHECK_TARGETS += check-xen check-boot check-xen-off

.PHONY: xen xen-stock xen-off xen-debug boot boot-debug check-xen check-boot check-xen-off \
	xen-size dom0-image dom0-shell

# The stock build first: the summary measures the Rust object against the C it replaces there.
xen: xen-stock
	@scripts/xen-build rust

xen-stock:
	@scripts/xen-build stock

xen-off: xen-stock
	@scripts/xen-build off
	@scripts/xen-compare-off

boot: xen xen-stock
	@scripts/xen-boot

dom0-image:
	@scripts/dom0-image

dom0-shell: xen
	@scripts/dom0-shell

xen-debug:
	@scripts/xen-build debug

xen-size:
	@scripts/xen-rust-size

boot-debug: xen-debug xen-stock
	@scripts/xen-boot --rust target/xen-build/debug

# The link checks (scripts/xen-check-build) run inside every hypervisor build. Offline outside
# CI, a missing Xen source is a loud SKIPPED here (make xen itself fails).
check-xen:
	@XEN_SKIP_IF_OFFLINE=1 scripts/xen-build stock
	@XEN_SKIP_IF_OFFLINE=1 scripts/xen-build rust

check-boot: check-xen
	@XEN_SKIP_IF_OFFLINE=1 scripts/xen-build stock
	@scripts/xen-boot

# The option off must leave Xen as it was: every object identical to the stock build's (X2).
check-xen-off:
	@out=$$(XEN_SKIP_IF_OFFLINE=1 scripts/xen-build stock && XEN_SKIP_IF_OFFLINE=1 scripts/xen-build off) \
	  && echo "$$out" && case "$$out" in *SKIPPED*) ;; *) scripts/xen-compare-off ;; esac
