//! Reading a process's CPU time and memory from /proc.

/// CPU time of a process, in clock ticks (`getconf CLK_TCK`).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTicks {
    /// Time in user space (utime).
    pub user: u64,
    /// Time in the kernel on the process's behalf (stime): system calls,
    /// and on loopback also the peer's receive processing they trigger.
    pub system: u64,
}

impl CpuTicks {
    /// The ticks spent since `start`.
    pub fn since(self, start: CpuTicks) -> CpuTicks {
        CpuTicks {
            user: self.user.saturating_sub(start.user),
            system: self.system.saturating_sub(start.system),
        }
    }
}

/// utime and stime of process `pid` (zero if it cannot be read).
pub fn cpu_ticks(pid: u32) -> CpuTicks {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return CpuTicks::default();
    };
    // Fields after the command name in parentheses: state is field 3, utime
    // field 14, stime field 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    CpuTicks {
        user: field(14),
        system: field(15),
    }
}

/// Resident set size of process `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}
