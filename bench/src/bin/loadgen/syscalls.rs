//! A server's system calls over a measuring window, counted by `perf stat`
//! on the kernel's system-call tracepoints (`perf stat -p PID`), when asked
//! for with `--syscalls 1`: the tracepoints add work to every system call
//! of the server, so by default the CPU and latency figures are taken
//! without them.
//!
//! `/proc/PID/io`'s `syscr`/`syscw` would be simpler but miss `sendto` and
//! `recvfrom`, the calls std's and mio's sockets make. Without perf, or
//! without the right to trace (root, or `kernel.perf_event_paranoid` ≤ 1),
//! there are no counts and the report leaves them out.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

/// The tracepoints counted, by what they are summed into.
const READS: [&str; 4] = ["read", "readv", "recvfrom", "recvmsg"];
const WRITES: [&str; 4] = ["write", "writev", "sendto", "sendmsg"];
const WAITS: [&str; 2] = ["epoll_wait", "epoll_pwait"];
const ALL: &str = "raw_syscalls:sys_enter";

/// System calls made over the window.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    /// Every system call.
    all: u64,
    /// Reads: `read`, `readv`, `recvfrom`, `recvmsg` (those that returned
    /// `EAGAIN` included).
    reads: u64,
    /// Writes: `write`, `writev`, `sendto`, `sendmsg`.
    writes: u64,
    /// Waits for readiness: `epoll_wait`, `epoll_pwait`.
    waits: u64,
}

impl Counts {
    /// The counts as JSON fields (`"name": value, ` each), for a report.
    fn json_fields(&self) -> String {
        format!(
            "\"syscalls\": {}, \"syscalls_read\": {}, \"syscalls_write\": {}, \"syscalls_wait\": {}, ",
            self.all, self.reads, self.writes, self.waits
        )
    }
}

/// A `perf stat` attached to the server with its counters off; they count
/// between [`enable`](Self::enable) and [`finish`](Self::finish) (perf's
/// control descriptor: its standard input takes `enable` and `disable`,
/// its standard output answers `ack`).
pub struct Counting {
    perf: Option<Child>,
}

impl Counting {
    /// Attaches perf to process `pid`, counters off, if the run asks for
    /// system calls (`--syscalls 1`); a no-op otherwise, for `pid` 0, or
    /// when perf cannot be started. Start it before the window: attaching
    /// takes perf some milliseconds.
    pub fn attach(args: &crate::Args, pid: u32) -> std::io::Result<Self> {
        if args.number("syscalls", 0)? != 1 || pid == 0 {
            return Ok(Counting { perf: None });
        }
        let mut events = vec![ALL.to_owned()];
        for name in READS.iter().chain(&WRITES).chain(&WAITS) {
            events.push(format!("syscalls:sys_enter_{name}"));
        }
        let perf = Command::new("perf")
            .args(["stat", "-x", ",", "-D", "-1", "--control", "fd:0,1"])
            .args(["-e", &events.join(","), "-p", &pid.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ok();
        Ok(Counting { perf })
    }

    /// Turns the counters on, and waits for perf to say so (a blocking read
    /// of a line: the window starts once it has).
    pub fn enable(&mut self) {
        if !self.command("enable") {
            self.stop();
        }
    }

    /// Turns the counters off, stops perf (SIGINT, on which it prints its
    /// counts) and returns them as JSON fields for the report (see
    /// `Counts::json_fields`); empty when there are none (not asked for, no
    /// perf, not allowed, or no count of every call).
    pub fn finish(mut self) -> String {
        self.counts()
            .map_or_else(String::new, |counts| counts.json_fields())
    }

    fn counts(&mut self) -> Option<Counts> {
        let interrupted = self.command("disable")
            && Command::new("kill")
                .args(["-INT", &self.perf.as_ref()?.id().to_string()])
                .status()
                .is_ok_and(|status| status.success());
        if !interrupted {
            self.stop();
            return None;
        }
        let output = self.perf.take()?.wait_with_output().ok()?;
        parse(&String::from_utf8_lossy(&output.stderr))
    }

    /// Sends `command` to perf and reads its `ack`; false when perf is not
    /// running or did not answer.
    fn command(&mut self, command: &str) -> bool {
        let Some(perf) = &mut self.perf else {
            return false;
        };
        let (Some(input), Some(output)) = (&mut perf.stdin, &mut perf.stdout) else {
            return false;
        };
        if writeln!(input, "{command}")
            .and_then(|()| input.flush())
            .is_err()
        {
            return false;
        }
        // perf 6.1 answers "ack\n\0"; up to the line's end is enough.
        let mut answer = [0u8; 8];
        let mut got = 0;
        while got < answer.len() && !answer[..got].contains(&b'\n') {
            match output.read(&mut answer[got..]) {
                Ok(0) | Err(_) => return false,
                Ok(n) => got += n,
            }
        }
        answer[..got].windows(3).any(|w| w == b"ack")
    }

    /// Kills perf (it failed): no counts.
    fn stop(&mut self) {
        if let Some(mut perf) = self.perf.take() {
            let _ = perf.kill();
            let _ = perf.wait();
        }
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sums `perf stat -x ,` output (`COUNT,UNIT,EVENT,...` per line) into
/// [`Counts`]; `None` without a count of every call.
fn parse(output: &str) -> Option<Counts> {
    let mut counts = Counts::default();
    let mut any = false;
    for line in output.lines() {
        let mut fields = line.split(',');
        let (Some(count), Some(_unit), Some(event)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // "<not counted>" or "<not supported>" are not numbers: skipped.
        let Ok(count) = count.trim().parse::<u64>() else {
            continue;
        };
        let name = event.strip_prefix("syscalls:sys_enter_");
        match name {
            _ if event == ALL => {
                counts.all = count;
                any = true;
            }
            Some(name) if READS.contains(&name) => counts.reads += count,
            Some(name) if WRITES.contains(&name) => counts.writes += count,
            Some(name) if WAITS.contains(&name) => counts.waits += count,
            _ => {}
        }
    }
    any.then_some(counts)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sums_perf_stat_csv() {
        let output = "1000,,raw_syscalls:sys_enter,2000000,100.00,,\n\
                      10,,syscalls:sys_enter_read,2000000,100.00,,\n\
                      300,,syscalls:sys_enter_recvfrom,2000000,100.00,,\n\
                      200,,syscalls:sys_enter_sendto,2000000,100.00,,\n\
                      5,,syscalls:sys_enter_writev,2000000,100.00,,\n\
                      <not counted>,,syscalls:sys_enter_recvmsg,0,0.00,,\n\
                      40,,syscalls:sys_enter_epoll_wait,2000000,100.00,,\n";
        let counts = parse(output).expect("counts");
        assert_eq!(
            (counts.all, counts.reads, counts.writes, counts.waits),
            (1000, 310, 205, 40)
        );
        assert!(parse("Error: no permission\n").is_none());
    }
}
