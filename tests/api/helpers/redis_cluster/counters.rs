//! What the cluster counted: shard subscribers per node, error and command counters (with what
//! killed nodes had counted).

use super::view::parse_counters;
use super::RedisCluster;

impl RedisCluster {
    /// `PUBSUB SHARDNUMSUB` on one node: its local subscribers of each channel.
    pub fn shardnumsub_on(&self, port: u16, channels: &[&str]) -> Result<Vec<i64>, String> {
        let mut args = vec!["PUBSUB", "SHARDNUMSUB"];
        args.extend(channels);
        let out = self.try_command(port, &args)?;
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        if lines.len() != channels.len() * 2 {
            return Err(format!("SHARDNUMSUB on {port}: {} lines for {} channels", lines.len(), channels.len()));
        }
        lines
            .chunks(2)
            .zip(channels)
            .map(|(pair, name)| {
                if pair[0] != *name {
                    return Err(format!("SHARDNUMSUB on {port}: {:?} where {name:?} was expected", pair[0]));
                }
                pair[1].parse().map_err(|_| format!("SHARDNUMSUB on {port}: count {:?}", pair[1]))
            })
            .collect()
    }

    /// Subscribers of each shard channel summed over the masters (each counts only its own).
    pub fn shardnumsub_total(&self, channels: &[&str]) -> Vec<i64> {
        self.try_shardnumsub_sum(&self.masters(), channels).unwrap_or_else(|why| panic!("{why}"))
    }

    pub fn try_shardnumsub_sum(&self, ports: &[u16], channels: &[&str]) -> Result<Vec<i64>, String> {
        let mut total = vec![0; channels.len()];
        for port in ports {
            for (sum, n) in total.iter_mut().zip(self.shardnumsub_on(*port, channels)?) {
                *sum += n;
            }
        }
        Ok(total)
    }

    /// A counter of `INFO errorstats`/`commandstats` (`errorstat_CROSSSLOT`, `cmdstat_spublish`)
    /// summed over every running node and what killed nodes had counted.
    pub fn counter(&self, name: &str) -> u64 {
        let mut total = self.retired.lock().unwrap_or_else(|e| e.into_inner()).get(name).copied().unwrap_or(0);
        for port in self.running() {
            let info = self.try_command(port, &["INFO", "all"]).unwrap_or_else(|why| panic!("INFO on {port}: {why}"));
            total += parse_counters(&info).get(name).copied().unwrap_or(0);
        }
        total
    }

    /// Errors of this kind (`CROSSSLOT`, `MOVED`, ...) answered by the cluster.
    pub fn errorstat(&self, error: &str) -> u64 {
        self.counter(&format!("errorstat_{error}"))
    }

    /// `CROSSSLOT` errors answered by the cluster: a command naming keys of several slots.
    pub fn crossslot_errors(&self) -> u64 {
        self.errorstat("CROSSSLOT")
    }

    /// Calls of a command (lower case, e.g. `spublish`) over the cluster.
    pub fn cmdstat_calls(&self, command: &str) -> u64 {
        self.counter(&format!("cmdstat_{command}"))
    }
}
