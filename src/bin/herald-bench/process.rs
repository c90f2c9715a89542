//! What `/proc` says about a process: its resident memory and the CPU it used.

use crate::error::BenchError;

/// utime + stime of a process, in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|source| BenchError::Proc { path, source })?;
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or(BenchError::ProcFormat("bad stat"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field =
        |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or(BenchError::ProcFormat("bad stat field"));
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    Ok(field(11)? + field(12)?)
}

/// CPU ticks of every `postgres` process of this machine (the benches' own server).
pub fn postgres_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres"))
        .filter_map(|pid| cpu_ticks(pid).ok())
        .sum()
}

pub fn clock_ticks_per_second() -> f64 {
    // USER_HZ is 100 on Linux for every architecture Herald builds for.
    100.0
}

/// The process's resident memory, in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|source| BenchError::Proc { path, source })?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or(BenchError::ProcFormat("no VmRSS"))
}
