//! Running commands: one-shot steps that must succeed, and long-running services started
//! in their own process group so that stopping one also stops its children (wrangler
//! starts workerd).

use crate::Result;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `command` to completion with inherited output; fails unless it exits with 0.
pub fn run(command: &mut Command) -> Result {
    let shown = describe(command);
    println!("xtask: $ {shown}");
    let status = command.status().map_err(|error| format!("cannot start `{shown}`: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed with {status}"))
    }
}

/// Runs `command` and returns its standard output, or `None` if it cannot run or fails.
pub fn output(command: &mut Command) -> Option<String> {
    let output = command.stderr(Stdio::null()).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for argument in command.get_args() {
        text.push(' ');
        text.push_str(&argument.to_string_lossy());
    }
    text
}

/// A long-running child process, stopped (with its whole process group) when dropped.
pub struct Service {
    pub name: String,
    child: Child,
}

impl Service {
    /// Starts `command` in a new process group; output goes to `log_file` if given.
    pub fn start(name: &str, command: &mut Command, log_file: Option<&Path>) -> Result<Service> {
        if let Some(path) = log_file {
            let file = File::create(path).map_err(|error| format!("cannot create {}: {error}", path.display()))?;
            let copy = file.try_clone().map_err(|error| error.to_string())?;
            command.stdout(file).stderr(copy);
        }
        command.stdin(Stdio::null()).process_group(0);
        let child = command.spawn().map_err(|error| format!("cannot start {name} (`{}`): {error}", describe(command)))?;
        Ok(Service { name: name.to_owned(), child })
    }

    /// Returns an error if the process has already exited.
    pub fn check_running(&mut self) -> Result {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(format!("{} exited early with {status}", self.name)),
            _ => Ok(()),
        }
    }

    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            stop_group(self.child.id());
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            kill_group(self.child.id());
            let _ = self.child.wait();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends SIGTERM to the process group led by `pid`.
pub fn stop_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) with a negative pid only sends a signal; no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
    }
}

fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: as in `stop_group`.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Asks the operating system for a free loopback port.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|error| format!("no free port: {error}"))?;
    listener.local_addr().map(|address| address.port()).map_err(|error| error.to_string())
}

/// Fails if something already listens on `port`, naming the setting to change.
pub fn ensure_port_free(port: u16, setting: &str) -> Result {
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("port {port} on 127.0.0.1 is in use; stop what uses it or set {setting} to another port")),
    }
}

/// Sends `GET path` to 127.0.0.1:`port` and returns the status code, if a response came.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Waits until `GET path` on `port` returns 200, or fails after `timeout`.
pub fn wait_until_ready(service: &mut Service, port: u16, path: &str, timeout: Duration) -> Result {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        service.check_running()?;
        if http_status(port, path) == Some(200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!("{} did not answer GET {path} on port {port} within {} s", service.name, timeout.as_secs()))
}
