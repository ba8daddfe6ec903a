//! xen-ioreq-emulator: the live test's device model, a dom0 program that serves the test guest
//! (live/guest) through two Xen ioreq servers, the way QEMU and varstored do on Xen 4.17:
//! privcmd `IOCTL_PRIVCMD_DM_OP` (create, get_info with `XEN_DMOP_no_gfns`, map/unmap ranges,
//! set state, destroy), `IOCTL_PRIVCMD_MMAP_RESOURCE` for the ioreq pages and
//! `/dev/xen/evtchn` for the event channels. Server A has the buffered ring, server B not.
//!
//! Usage (in dom0, as root):
//!   xen-ioreq-emulator --domid N [--hvmop] [--ready FILE] [--timeout SECS]
//!   xen-ioreq-emulator --domid N --hostile [--timeout SECS]
//!
//! stdout is the transcript: `emulator: ...` lifecycle lines and one `req NNNNN ...` line per
//! request served (the timed ping reads are counted, not listed). `--hvmop` lines and failures
//! go to stderr (`hvmop: ...`, `emulator: FAIL ...`). Exit status 0 only if everything worked.

mod dmop;
mod hostile;
mod hvmop;
mod request;
mod server;
mod sys;

use std::process::ExitCode;
use std::time::Duration;

use dmop::DeviceModel;
use server::{serve_until_done, ForeignMemory, Server};
use sys::{Evtchn, Privcmd};
use xen_ioreq_live_script::layout::SERVERS;

/// The transcript on stdout.
pub struct Transcript {
    requests: u64,
}

impl Transcript {
    pub fn note(&mut self, s: &str) {
        println!("emulator: {s}");
    }
    pub fn req(&mut self, s: &str) {
        self.requests += 1;
        println!("req {:05} {s}", self.requests);
    }
}

struct Args {
    domid: u16,
    hvmop: bool,
    hostile: bool,
    ready: Option<String>,
    timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        domid: 0,
        hvmop: false,
        hostile: false,
        ready: None,
        timeout: Duration::from_secs(600),
    };
    let mut domid = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--domid" => domid = it.next().and_then(|v| v.parse::<u16>().ok()),
            "--hvmop" => a.hvmop = true,
            "--hostile" => a.hostile = true,
            "--ready" => a.ready = it.next(),
            "--timeout" => {
                let s = it.next().and_then(|v| v.parse::<u64>().ok()).ok_or("--timeout needs seconds")?;
                a.timeout = Duration::from_secs(s);
            }
            "-h" | "--help" => {
                return Err("usage: xen-ioreq-emulator --domid N [--hvmop] [--hostile] [--ready FILE] [--timeout SECS]".into())
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    a.domid = domid
        .filter(|d| *d != 0)
        .ok_or("--domid N (the guest, not dom0) is required")?;
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("emulator: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut privcmd, evtchn) = match (Privcmd::open(), Evtchn::open()) {
        (Ok(p), Ok(e)) => (p, e),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("emulator: FAIL cannot open /dev/xen/privcmd or /dev/xen/evtchn: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut log = Transcript { requests: 0 };
    let ok = if args.hostile {
        run_hostile(&privcmd, &evtchn, &args, &mut log)
    } else {
        run_main(&mut privcmd, &evtchn, &args, &mut log)
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_main(privcmd: &mut Privcmd, evtchn: &Evtchn, args: &Args, log: &mut Transcript) -> bool {
    let mut servers = Vec::new();
    let mut ok = true;
    let result = (|| -> Result<(), String> {
        let dm = DeviceModel {
            privcmd,
            domid: args.domid,
        };
        let nr_vcpus = dm.nr_vcpus().map_err(|e| format!("nr_vcpus: {e}"))?;
        log.note(&format!("guest vcpus={nr_vcpus}"));
        for i in 0..SERVERS.len() {
            servers.push(Server::create(&dm, i, log)?);
        }
        for s in servers.iter_mut() {
            s.enable(&dm, evtchn, nr_vcpus, log)?;
        }
        if let Some(path) = &args.ready {
            std::fs::write(path, "ready\n").map_err(|e| format!("{path}: {e}"))?;
        }
        let mut mem = ForeignMemory::new(dm.privcmd, args.domid);
        let stats = serve_until_done(&mut servers, evtchn, &mut mem, args.timeout, log)?;
        log.note(&format!(
            "served requests={} pings={} buffered={}",
            stats.requests, stats.pings, stats.buffered
        ));
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("emulator: FAIL {e}");
        log.note(&format!("FAIL {e}"));
        ok = false;
    }
    // The HVMOP results go to stderr only: the transcript must be the same with and without
    // --hvmop (the boot test compares a stock run without it to a Rust run with it).
    let mut hvmop_ok = true;
    if args.hvmop {
        if let Some(b) = servers.get(1) {
            let (lines, all_ok) = hvmop::drive(privcmd, args.domid, b.id);
            for l in lines {
                eprintln!("{l}");
            }
            if !all_ok {
                eprintln!("emulator: FAIL hvmop: an HVMOP did not give what 4.17's rules say");
            }
            hvmop_ok = all_ok;
        }
    }
    let dm = DeviceModel {
        privcmd,
        domid: args.domid,
    };
    for s in servers {
        if let Err(e) = s.teardown(&dm, evtchn, log) {
            eprintln!("emulator: FAIL {e}");
            ok = false;
        }
    }
    log.note(if ok { "done" } else { "done with failures" });
    ok && hvmop_ok
}

fn run_hostile(privcmd: &Privcmd, evtchn: &Evtchn, args: &Args, log: &mut Transcript) -> bool {
    let dm = DeviceModel {
        privcmd,
        domid: args.domid,
    };
    let v = hostile::run(&dm, evtchn, log, args.timeout);
    for l in &v.lines {
        println!("{l}");
    }
    if v.failed.is_empty() {
        println!("hostile: ok");
        true
    } else {
        println!("hostile: FAIL {}", v.failed.join("; "));
        false
    }
}
