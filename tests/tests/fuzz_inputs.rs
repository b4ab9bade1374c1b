//! Replays the committed fuzz seeds and regression inputs (`fuzz/corpus/`,
//! `fuzz/regressions/`) through the checks of `tidings_core::fuzzing`, so the
//! fuzz properties run on them with `cargo test`, on stable, without cargo-fuzz.

use std::path::Path;
use std::time::Instant;

use tidings_core::fuzzing;

/// The checks of each target, by the target's name.
fn check(target: &str, data: &[u8]) {
    match target {
        "http_request_head" => fuzzing::http_request_head(data),
        "http_response_head" => fuzzing::http_response_head(data),
        "ws_connection" => fuzzing::ws_connection(data, Instant::now()),
        "ws_roundtrip" => fuzzing::ws_roundtrip(data, Instant::now()),
        "sse_decoder" => fuzzing::sse_decoder(data),
        "sse_roundtrip" => fuzzing::sse_roundtrip(data),
        "deflate_negotiation" => fuzzing::deflate_negotiation(data),
        "h3_frames" => fuzzing::h3_frames(data),
        "qpack_field_section" => fuzzing::qpack_field_section(data),
        "wt_capsules" => fuzzing::wt_capsules(data),
        "wt_connection" => fuzzing::wt_connection(data),
        "frame_header" => {} // its checks live in its fuzz target
        other => panic!("no checks for fuzz corpus {other}"),
    }
}

/// Every committed seed and regression input passes its target's checks.
#[test]
fn committed_fuzz_inputs_pass_their_checks() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        let Ok(targets) = std::fs::read_dir(fuzz.join(kind)) else {
            continue;
        };
        for target in targets {
            let target = target.unwrap().path();
            let name = target.file_name().unwrap().to_str().unwrap().to_owned();
            for file in std::fs::read_dir(&target).unwrap() {
                let path = file.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                eprintln!("{}", path.display());
                check(&name, &data);
                count += 1;
            }
        }
    }
    assert!(count >= 30, "only {count} committed fuzz inputs found");
}
