//! What the benchmarks share: samples, percentiles, the table and the final JSON line.

use std::time::Instant;

use nsplug_host::{Executor, Namespace};

/// One benchmark case: its samples in nanoseconds.
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) per_round: usize,
    pub(crate) samples: Vec<u64>,
}

impl Case {
    /// A case taking `total` samples over `rounds` rounds.
    pub(crate) fn new(name: &'static str, total: usize, rounds: usize) -> Case {
        Case {
            name,
            per_round: total / rounds,
            samples: Vec::with_capacity(total),
        }
    }

    /// Times `f` once per sample of this round.
    pub(crate) fn time(&mut self, mut f: impl FnMut()) {
        for _ in 0..self.per_round {
            let start = Instant::now();
            f();
            self.samples.push(start.elapsed().as_nanos() as u64);
        }
    }

    /// The `p` quantile (0.0–1.0) of the samples.
    pub(crate) fn percentile(&self, p: f64) -> u64 {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(rank).copied().unwrap_or(0)
    }
}

/// The p50 of the case called `name`.
pub(crate) fn p50(cases: &[Case], name: &str) -> f64 {
    cases
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.percentile(0.5) as f64)
        .unwrap_or_else(|| panic!("no case {name}"))
}

/// Prints the table, the ratios, the targets, and the JSON object as the last line.
pub(crate) fn report(
    bench: &str,
    cases: &[Case],
    ratios: &[(&str, f64)],
    targets: &[(&str, bool)],
) {
    println!(
        "{:<34} {:>7} {:>10} {:>10}",
        "case", "n", "p50 ns", "p99 ns"
    );
    for c in cases {
        println!(
            "{:<34} {:>7} {:>10} {:>10}",
            c.name,
            c.samples.len(),
            c.percentile(0.50),
            c.percentile(0.99)
        );
    }
    println!();
    for (name, ratio) in ratios {
        println!("{name:<34} {ratio:>10.3}");
    }
    for (name, met) in targets {
        println!("target {name}: {}", if *met { "met" } else { "NOT met" });
    }
    let cases_json: Vec<String> = cases
        .iter()
        .map(|c| {
            format!(
                "\"{}\":{{\"n\":{},\"p50_ns\":{},\"p99_ns\":{}}}",
                c.name,
                c.samples.len(),
                c.percentile(0.50),
                c.percentile(0.99)
            )
        })
        .collect();
    let ratios_json: Vec<String> = ratios
        .iter()
        .map(|(n, r)| format!("\"{n}\":{r:.3}"))
        .collect();
    let targets_json: Vec<String> = targets
        .iter()
        .map(|(n, met)| format!("\"{n}\":{met}"))
        .collect();
    println!(
        "{{\"bench\":\"{bench}\",\"cases\":{{{}}},\"ratios\":{{{}}},\"targets_met\":{{{}}}}}",
        cases_json.join(","),
        ratios_json.join(","),
        targets_json.join(",")
    );
}

/// A namespace with three links (lo and a veth pair `b0`/`b1`), removed on drop.
pub(crate) struct BenchNs {
    executor: Executor,
    pub(crate) name: String,
    pub(crate) ns: Namespace,
}

impl BenchNs {
    /// Creates `nsplug-bench-<tag>-<pid>` with the executor (the benchmarks need root).
    pub(crate) fn new(executor: &Executor, tag: &str) -> BenchNs {
        let name = format!("nsplug-bench-{tag}-{}", std::process::id());
        let ns = executor
            .create_namespace(&name)
            .expect("creating the bench namespace (the benchmarks need root)");
        let bench = BenchNs {
            executor: executor.clone(),
            name,
            ns,
        };
        let status = std::process::Command::new("ip")
            .args(["-n", &bench.name, "link", "add", "b0", "type", "veth"])
            .args(["peer", "name", "b1"])
            .status()
            .expect("running ip (iproute2)");
        assert!(status.success(), "ip link add failed");
        bench
    }
}

impl Drop for BenchNs {
    fn drop(&mut self) {
        if let Err(e) = self.executor.delete_namespace(&self.name) {
            eprintln!("warning: could not remove {}: {e}", self.name);
        }
    }
}
