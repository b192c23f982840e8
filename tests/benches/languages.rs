//! `cargo bench -p nsplug-tests --bench languages` (as root).
//!
//! The list-links plugin in Rust, Python, JavaScript and C: component size, cold compile time
//! (load without a cache), load time from the compile cache, and the call time of `list` on one
//! namespace, in one process. Prints a table, then one JSON object as the last line: sizes, and
//! p50/p99 in nanoseconds per case, with each language's call time over Rust's as a ratio.

use std::path::Path;
use std::time::Instant;

use nsplug_host::{Executor, OpClass, Policy, Runtime};

const GUESTS: [(&str, &str); 4] = [
    ("rust", env!("GUEST_LIST_LINKS")),
    ("python", env!("GUEST_LIST_LINKS_PYTHON")),
    ("js", env!("GUEST_LIST_LINKS_JS")),
    ("c", env!("GUEST_LIST_LINKS_C")),
];

struct Case {
    name: String,
    samples: Vec<u64>,
}

impl Case {
    fn percentile(&self, p: f64) -> u64 {
        nsplug_tests::percentile(&self.samples, p)
    }
}

fn timed(name: String, n: usize, mut f: impl FnMut()) -> Case {
    let samples = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_nanos() as u64
        })
        .collect();
    Case { name, samples }
}

fn main() {
    let ns = format!("nsplug-bench-lang-{}", std::process::id());
    let status = std::process::Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .expect("running ip (iproute2)");
    assert!(
        status.success(),
        "ip netns add failed (the benchmark needs root)"
    );
    let executor = Executor::builder()
        .workers(2)
        .paranoid(false)
        .build()
        .expect("executor");
    let policy = Policy::granting([ns.as_str()], [OpClass::Read]);
    let input = format!(r#"{{"namespaces": ["{ns}"]}}"#);
    let cache =
        std::env::temp_dir().join(format!("nsplug-bench-lang-cache-{}", std::process::id()));

    let mut sizes = Vec::new();
    let mut cases = Vec::new();
    for (lang, path) in GUESTS {
        let path = Path::new(path);
        sizes.push((lang, std::fs::metadata(path).expect("component").len()));
        let uncached = Runtime::builder()
            .executor(executor.clone())
            .build()
            .expect("runtime");
        cases.push(timed(format!("{lang}_cold_compile"), 2, || {
            uncached.load(path, policy.clone()).expect("load");
        }));
        let cached = Runtime::builder()
            .executor(executor.clone())
            .cache_dir(&cache)
            .build()
            .expect("runtime");
        cached.precompile(path).expect("filling the cache");
        cases.push(timed(format!("{lang}_load_from_cache"), 10, || {
            cached.load(path, policy.clone()).expect("load");
        }));
        let plugin = cached.load(path, policy.clone()).expect("load");
        let expected = plugin.call("list", &input).expect("call");
        assert!(expected.contains(&ns), "{lang}: {expected}");
        cases.push(timed(format!("{lang}_call_list"), 500, || {
            assert_eq!(plugin.call("list", &input).expect("call"), expected);
        }));
    }
    let _ = std::fs::remove_dir_all(&cache);
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &ns])
        .status();

    println!(
        "{:<28} {:>5} {:>14} {:>14}",
        "case", "n", "p50 ns", "p99 ns"
    );
    for c in &cases {
        println!(
            "{:<28} {:>5} {:>14} {:>14}",
            c.name,
            c.samples.len(),
            c.percentile(0.5),
            c.percentile(0.99)
        );
    }
    println!();
    for (lang, size) in &sizes {
        println!("{lang:<28} {size:>12} bytes");
    }
    let p50 = |name: &str| {
        cases
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.percentile(0.5) as f64)
            .expect("case")
    };
    let ratios: Vec<(String, f64)> = ["python", "js", "c"]
        .iter()
        .map(|lang| {
            (
                format!("{lang}_call_over_rust_p50"),
                p50(&format!("{lang}_call_list")) / p50("rust_call_list"),
            )
        })
        .collect();
    for (name, ratio) in &ratios {
        println!("{name:<28} {ratio:>10.3}");
    }
    let cases_json: Vec<String> = cases
        .iter()
        .map(|c| {
            format!(
                "\"{}\":{{\"n\":{},\"p50_ns\":{},\"p99_ns\":{}}}",
                c.name,
                c.samples.len(),
                c.percentile(0.5),
                c.percentile(0.99)
            )
        })
        .collect();
    let sizes_json: Vec<String> = sizes.iter().map(|(l, s)| format!("\"{l}\":{s}")).collect();
    let ratios_json: Vec<String> = ratios
        .iter()
        .map(|(n, r)| format!("\"{n}\":{r:.3}"))
        .collect();
    println!(
        "{{\"bench\":\"languages\",\"sizes_bytes\":{{{}}},\"cases\":{{{}}},\"ratios\":{{{}}}}}",
        sizes_json.join(","),
        cases_json.join(","),
        ratios_json.join(",")
    );
}
