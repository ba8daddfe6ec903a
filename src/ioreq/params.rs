//! The HVM params the series gives meaning to: hooks that Xen's HVMOP_get_param / set_param run
//! for these indices before their generic read or store.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::errno::{Errno, XenResult};
use crate::ioreq::abi::{
    DOMID_SELF, HVM_PARAM_BUFIOREQ_EVTCHN, HVM_PARAM_BUFIOREQ_PFN, HVM_PARAM_DM_DOMAIN,
    HVM_PARAM_IOREQ_PFN, HVM_PARAM_IOREQ_SERVER_PFN, HVM_PARAM_NR_IOREQ_SERVER_PAGES,
};
use crate::platform::DomainRef;

use super::ops::{create_server, pool_set_param, set_dm_domain};
use super::IoreqPlatform;

/// Before Xen reads param `index` of `d` for the caller: reading 5/6/26 creates the default
/// server (with the DM_DOMAIN param as emulator) if there is none. 32/33 read by the domain itself
/// give -EPERM (B7) and read by anyone never create a server (B8). Other indices: nothing.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn get_param_hook<P: IoreqPlatform>(d: DomainRef, index: u32) -> XenResult<()> {
    match index {
        HVM_PARAM_IOREQ_PFN | HVM_PARAM_BUFIOREQ_PFN | HVM_PARAM_BUFIOREQ_EVTCHN => {
            // Cut to 16 bits, as the C's assignment of the param to a `domid_t` cuts it.
            let dm = P::hvm_param(d, HVM_PARAM_DM_DOMAIN) as u16;
            match create_server::<P>(d, dm, true, true) {
                Ok(_) | Err(Errno::EEXIST) => Ok(()),
                Err(e) => Err(e),
            }
        }
        HVM_PARAM_IOREQ_SERVER_PFN | HVM_PARAM_NR_IOREQ_SERVER_PAGES => {
            if P::current_domain() == d {
                Err(Errno::EPERM)
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Before Xen stores `value` in param `index` of `d`: returns the value to store (DM_DOMAIN
/// translates DOMID_SELF to the caller), or the error (then nothing is stored).
/// * 32 (pool base) and 33 (pool size 1..=64, OR-ed into the free mask), 13 (DM domain): not
///   settable by the domain itself (-EPERM).
/// * 26: read-only (-EINVAL).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn set_param_hook<P: IoreqPlatform>(d: DomainRef, index: u32, value: u64) -> XenResult<u64> {
    match index {
        HVM_PARAM_IOREQ_SERVER_PFN => {
            if P::current_domain() == d {
                return Err(Errno::EPERM);
            }
            pool_set_param::<P>(d, index, value)?;
            Ok(value)
        }
        HVM_PARAM_NR_IOREQ_SERVER_PAGES => {
            if P::current_domain() == d {
                return Err(Errno::EPERM);
            }
            pool_set_param::<P>(d, index, value)?;
            Ok(value)
        }
        HVM_PARAM_DM_DOMAIN => {
            let caller = P::current_domain();
            if caller == d {
                return Err(Errno::EPERM);
            }
            let domid = if value == u64::from(DOMID_SELF) {
                u64::from(P::domain_id(caller))
            } else {
                value
            };
            // `hvm_set_dm_domain` takes a `domid_t`: cut to 16 bits there too, while the param
            // keeps the full value, as in the C.
            set_dm_domain::<P>(d, domid as u16)?;
            Ok(domid)
        }
        HVM_PARAM_BUFIOREQ_EVTCHN => Err(Errno::EINVAL),
        _ => Ok(value),
    }
}
