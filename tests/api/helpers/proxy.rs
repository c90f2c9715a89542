//! A TCP proxy for fault tests: forwards a local port to a target (PostgreSQL, Redis) and can
//! `cut()` every connection (and refuse new ones) until `restore()`, or `stall()` them: every
//! connection stays open but no byte moves either way (what a hung server looks like from the
//! client) until `resume()` forwards what was held. Plain threads, so it works whatever runtime
//! the test uses; stopped on Drop.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// How often a stalled pipe re-checks whether the proxy is being stopped.
const STALL_RECHECK: Duration = Duration::from_millis(100);

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    cut: AtomicBool,
    stopped: AtomicBool,
    open: Mutex<Vec<TcpStream>>,
    stalled: Mutex<bool>,
    resumed: Condvar,
}

impl Shared {
    /// Blocks a pipe while the proxy is stalled (bytes it read wait in its buffer).
    fn wait_while_stalled(&self) {
        let mut stalled = self.stalled.lock().unwrap_or_else(|e| e.into_inner());
        while *stalled && !self.stopped.load(Ordering::SeqCst) {
            stalled = self.resumed.wait_timeout(stalled, STALL_RECHECK).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

impl Proxy {
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let shared = Arc::new(Shared {
            cut: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
            stalled: Mutex::new(false),
            resumed: Condvar::new(),
        });
        let accept_shared = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if accept_shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if accept_shared.cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                if let (Ok(c), Ok(u)) = (client.try_clone(), upstream.try_clone()) {
                    let mut open = accept_shared.open.lock().unwrap_or_else(|e| e.into_inner());
                    open.push(c);
                    open.push(u);
                }
                pipe(&client, &upstream, accept_shared.clone());
                pipe(&upstream, &client, accept_shared.clone());
            }
        });
        Proxy { port, shared }
    }

    /// Closes every open connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        let mut open = self.shared.open.lock().unwrap_or_else(|e| e.into_inner());
        for stream in open.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Stops forwarding, both ways, on every connection (new ones too), keeping them open: the
    /// other side is still there, it just never answers.
    pub fn stall(&self) {
        *self.shared.stalled.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }

    /// Forwards again, starting with the bytes held while stalled.
    pub fn resume(&self) {
        *self.shared.stalled.lock().unwrap_or_else(|e| e.into_inner()) = false;
        self.shared.resumed.notify_all();
    }
}

fn pipe(from: &TcpStream, to: &TcpStream, shared: Arc<Shared>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else { return };
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    shared.wait_while_stalled();
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.resume();
        self.cut();
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
