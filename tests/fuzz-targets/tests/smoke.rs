//! The fuzz targets' smoke run in `make test`, on the stable toolchain without instrumentation:
//! every seed of `fuzz/corpus/` (crashes found by `make fuzz` are kept there as regression
//! inputs), then deterministic mutations of them. `make fuzz` runs the same targets
//! coverage-guided, a million inputs each.

use std::path::{Path, PathBuf};

/// Mutations per target: enough to catch a regression in seconds, not a fuzzing campaign.
const MUTATIONS: usize = 10_000;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to SQL, JSON and headers.
const INTERESTING: &[&[u8]] = &[
    b";",
    b"'",
    b"\"",
    b"`",
    b"\\",
    b"--",
    b"/*",
    b"*/",
    b"$$",
    b"(",
    b")",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\n",
    b"\0",
    b"\xff",
    b"\xc3",
    b" DROP TABLE t",
    b"; SELECT 1",
    b"CREATE VIEW v AS ",
    b"E'",
    b"\"notificationType\":",
    b"==",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 => data.truncate(at),
            1 if at < data.len() => data[at] = rng.next() as u8,
            2 => {
                let insert = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(at..at, insert.iter().copied());
            }
            3 if at < data.len() => {
                let end = (at + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let end = (from + rng.below(64)).min(other.len());
                data.splice(at..at, other[from..end].iter().copied());
            }
        }
    }
    data
}

/// The seeds of `target`, then mutations of them.
fn inputs(target: &str) -> impl Iterator<Item = Vec<u8>> {
    let seeds = corpus(target);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mutations: Vec<Vec<u8>> = (0..MUTATIONS).map(|_| mutate(&mut rng, &seeds)).collect();
    seeds.into_iter().chain(mutations)
}

#[test]
fn receiver_request() {
    let (mut accepted, mut refused) = (0, 0);
    for input in inputs("receiver_request") {
        match fuzz_targets::receiver_request(&input) {
            Some(200) => accepted += 1,
            Some(_) => refused += 1,
            None => {}
        }
    }
    // The inputs must reach both sides of the signature check, or they prove little.
    assert!(
        accepted > 500 && refused > 500,
        "accepted {accepted}, refused {refused}"
    );
}

#[test]
fn view_sql() {
    for input in inputs("view_sql") {
        fuzz_targets::view_sql(&input);
    }
}
