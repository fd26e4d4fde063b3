//! Gives `libringlink.so` its SONAME, `libringlink.so.<ABI>`: programs linked against it
//! record that name, so an ABI-breaking release (a new ABI number) never loads under a
//! program built for the old one. The rule is in docs/c-api.md ("Versions and the SONAME").

/// The ABI number: raised when a release breaks binary compatibility (a function removed or
/// its signature changed, a struct's layout or a constant's value changed). Additions keep it.
const ABI: u32 = 0;

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libringlink.so.{ABI}");
    println!("cargo:rustc-env=RINGLINK_ABI={ABI}");
    println!("cargo:rerun-if-changed=build.rs");
}
