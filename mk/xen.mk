# Xen 4.17 with the Rust inside (issue 5). Build dirs and caches live under target/xen-build/.
#   make xen            patched Xen, CONFIG_RUST_IOREQ=y (+ self-test), Rust archive linked, checked
#   make xen-stock      the unpatched Xen (defconfig): the boot test's reference
#   make xen-off        patched Xen with the option off, compared with the stock one (not in check)
#   make boot           both under QEMU: rangeset dumps compared (PV and PVH dom0), self-test verdict
CHECK_TARGETS += check-xen check-boot

.PHONY: xen xen-stock xen-off boot check-xen check-boot

xen:
	@scripts/xen-build rust

xen-stock:
	@scripts/xen-build stock

xen-off: xen-stock
	@scripts/xen-build off
	@scripts/xen-compare-off

boot: xen xen-stock
	@scripts/xen-boot

# The link checks run inside every `make xen`.
check-xen: xen

check-boot: boot
