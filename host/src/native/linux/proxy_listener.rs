//! `--network allow=` for native commands: the helper, inside the
//! command's new network namespace, brings up the loopback interface,
//! listens on 127.0.0.1:[`proxy::PORT`] and hands that socket to the host
//! over a unix socket (SCM_RIGHTS). The host serves the proxy on it, so
//! the command's only way out is a connection the host decides; nothing
//! of the host's network is in the namespace, and no path on disk leads
//! to the proxy.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::helper::Failure;
use crate::net::proxy;

/// Helper side: sets up the listener in this (new) network namespace and
/// sends it on `channel`, keeping no copy.
pub fn open_and_send(channel: RawFd) -> Result<(), Failure> {
    loopback_up()?;
    let listener = TcpListener::bind(("127.0.0.1", proxy::PORT))
        .map_err(|e| Failure::error("proxy listener in the sandbox", e))?;
    send_fd(channel, listener.as_raw_fd())
        .map_err(|e| Failure::error("handing over the proxy listener", e))
}

/// A new network namespace starts with `lo` down.
fn loopback_up() -> Result<(), Failure> {
    // SAFETY: plain socket call; the descriptor is owned below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(Failure::last_os("socket for lo"));
    }
    // SAFETY: just created, owned here.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: an all-zero ifreq is valid; the name is NUL-terminated.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq given.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(Failure::last_os("reading lo's flags"));
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(Failure::last_os("bringing lo up"));
        }
    }
    Ok(())
}

/// Room for one descriptor's control message.
#[repr(C)]
union Control {
    header: libc::cmsghdr,
    bytes: [u8; 64],
}

/// Calls `f` with a message of one data byte and a control buffer whose
/// length `f` sees as `control_len` (at most the buffer's size).
fn with_message<R>(control_len: usize, f: impl FnOnce(&mut libc::msghdr) -> R) -> R {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: all-zero msghdr and control buffers are valid; the pointers
    // set here outlive the call to `f`.
    let mut control: Control = unsafe { std::mem::zeroed() };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = (&raw mut control).cast();
    msg.msg_controllen = control_len.min(size_of::<Control>()) as _;
    f(&mut msg)
}

fn send_fd(channel: RawFd, fd: RawFd) -> io::Result<()> {
    // SAFETY: CMSG_SPACE(one descriptor) fits the control buffer, so the
    // CMSG macros stay inside it.
    let space = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize;
    with_message(space, |msg| unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        if libc::sendmsg(channel, msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })
}

/// Host side: the listener the helper sent on `channel`, or `None` when it
/// closed the channel without sending one (its status says why).
pub fn receive(channel: &OwnedFd) -> io::Result<Option<TcpListener>> {
    // SAFETY: recvmsg fills at most the control buffer; the descriptor read
    // from a SCM_RIGHTS message is new and owned here. MSG_CMSG_CLOEXEC
    // keeps it out of any later child.
    with_message(size_of::<Control>(), |msg| unsafe {
        let n = loop {
            let n = libc::recvmsg(channel.as_raw_fd(), msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break n;
            }
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let cmsg = libc::CMSG_FIRSTHDR(msg);
        if n == 0 || cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return Ok(None);
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
        Ok(Some(TcpListener::from(OwnedFd::from_raw_fd(fd))))
    })
}
