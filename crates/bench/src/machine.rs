//! The machine a run happened on: CPU, cores, memory, OS, rustc, date.

use std::process::Command;

/// A one-paragraph description of this machine and toolchain.
pub fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "unknown OS".into());
    let kernel = output("uname", &["-r"]);
    let rustc = output("rustc", &["--version"]);
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    format!(
        "- CPU: {cpu}, {cores} cores available\n- memory: {:.1} GiB\n- OS: {os}, kernel {kernel}\n- rustc: {rustc}\n- date: {date}\n",
        mem_kb as f64 / 1024.0 / 1024.0
    )
}

fn output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}
