//! The checked-in `include/ringlink.h` must equal a fresh cbindgen generation.
//! After changing the ABI: `RINGLINK_BLESS_HEADER=1 cargo test -p ringlink-ffi --test header`.

use std::path::Path;

fn generate() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // cbindgen follows the `mod` declarations of lib.rs.
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).unwrap();
    let builder = cbindgen::Builder::new().with_config(config);
    let builder = builder.with_src(dir.join("src/lib.rs"));
    let mut out = Vec::new();
    builder.generate().expect("cbindgen").write(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn checked_in_header_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/ringlink.h");
    let fresh = generate();
    if std::env::var_os("RINGLINK_BLESS_HEADER").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "include/ringlink.h is stale: run RINGLINK_BLESS_HEADER=1 cargo test -p ringlink-ffi \
         --test header"
    );
}
