//! The deployment files (SPEC §6, §7) agree with the code and with each other, parsed (no Docker here).

mod compose_file;
mod dockerfile;
mod env_example;
mod nginx_conf;

use herald::config::ENV_VARS;

fn read(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn default_of(name: &str) -> &'static str {
    ENV_VARS.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("{name} is not in ENV_VARS")).default
}

fn is_env_var(name: &str) -> bool {
    ENV_VARS.iter().any(|v| v.name == name)
}
