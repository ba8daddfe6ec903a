//! Which emulator owns a PCI device: the question the PCI hotplug controller asks before it lets
//! a secondary emulator plug a device into a slot or ask the guest to release one.

use super::server::DomainIoreq;
use super::IoreqPlatform;
use crate::platform::DomainRef;

/// Whether a secondary ioreq server of `d` emulated by domain `emulator` has `sbdf` (an
/// `HVMOP_PCI_SBDF` value) in its PCI range set, i.e. receives that device's config-space
/// accesses once enabled. Enabled or not does not matter: the claim is what makes the device
/// the emulator's. The default server has no ranges and claims nothing. Takes the registry's read
/// lock; allocates nothing.
pub fn pci_sbdf_claimed_by<P: IoreqPlatform>(d: DomainRef, emulator: u16, sbdf: u32) -> bool {
    let Some(st) = DomainIoreq::<P>::get(d) else {
        return false;
    };
    let reg = st.reg.read();
    reg.servers
        .iter()
        .filter(|s| !s.is_default && s.domid == emulator)
        .filter_map(|s| s.ranges.as_ref())
        .any(|[_ports, _mmio, pci]| pci.contains_singleton(u64::from(sbdf)))
}
