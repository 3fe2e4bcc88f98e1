//! Replays every kept fuzz input (`fuzz/corpus/<target>/`, and the crashes fixed since in
//! `fuzz/regressions/<target>/`) through its target: seconds, on every `cargo test`.

use std::path::PathBuf;

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind)
        .join(target);
    match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn every_kept_input_runs_clean() {
    for (target, run) in chatmall_fuzz_harness::TARGETS {
        let corpus = inputs("corpus", target);
        assert!(
            corpus.len() >= 10,
            "fuzz/corpus/{target} holds {} inputs: the corpus must be kept",
            corpus.len()
        );
        for path in corpus.iter().chain(&inputs("regressions", target)) {
            let data = std::fs::read(path).unwrap();
            // A panic names the input, so it can be run again with `cargo fuzz run`.
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        }
    }
}
