//! The io_uring driver on this kernel: incremental buffer consumption where supported.

use super::*;

/// Kernel >= 6.12 accepts incremental buffer consumption; older kernels fall back.
#[test]
fn incremental_buffer_ring_where_supported() {
    let efd = super::super::sys::EventFd::new().unwrap();
    let d = UringDriver::new(efd.fd(), true, BufConfig::default()).unwrap();
    let mut u: libc::utsname = unsafe_zeroed_utsname();
    // SAFETY: `u` is a valid utsname for the kernel to fill.
    assert_eq!(unsafe { libc::uname(&mut u) }, 0);
    let release: String = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if (major, minor) >= (6, 12) {
        assert!(
            d.bufs.inc,
            "kernel {release} should accept IOU_PBUF_RING_INC"
        );
    }
}

fn unsafe_zeroed_utsname() -> libc::utsname {
    // SAFETY: utsname is plain old data; all-zero is valid.
    unsafe { std::mem::zeroed() }
}
