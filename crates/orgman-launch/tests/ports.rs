//! Port probes, in a test process of their own: a child forked by another
//! test in the same process holds copies of this process's sockets until
//! it execs, and would keep a just-closed listener answering.

use std::net::TcpListener;

use orgman_launch::{free_port, port_open};

#[test]
fn a_port_is_open_while_something_listens_and_never_through_itself() {
    // free_port's own listener is gone, and a connection the kernel makes
    // from that very port to itself does not count.
    for _ in 0..200 {
        let port = free_port().unwrap();
        assert!(!port_open(port), "{port}");
    }
    let port = free_port().unwrap();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    assert!(port_open(port));
    drop(listener);
    assert!(!port_open(port));
}
