//! Writing to stdout and stderr without panicking when the reader has gone away.
//!
//! `println!` panics when stdout is a closed pipe (`kiln completions bash | head -3`). Rust
//! ignores SIGPIPE, so a write to a closed pipe fails with `BrokenPipe` instead; restoring
//! the default for the whole process would also let a socket write kill the server or a
//! client mid-request. So the CLI writes through [`outln!`] and [`errln!`]: once stdout is
//! found closed, later output is dropped, the command finishes its work (a `kiln demo`
//! still removes its temporary directory), and [`finish`] then ends the process the way a
//! Unix filter ends on a closed pipe: killed by SIGPIPE (exit status 141 in a shell).

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// `println!` to stdout, quiet once stdout is a closed pipe.
macro_rules! outln {
    () => {
        $crate::cli::out::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to stdout, quiet once stdout is a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::stdout(format_args!($($arg)*))
    };
}

/// `eprintln!` to stderr, quiet when stderr is a closed pipe.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::out::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, out, outln};

/// Writes `args` to stdout (unless it was already found closed).
pub fn stdout(args: fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut o = io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.flush()) {
        failed(e, "stdout");
    }
}

/// Writes raw bytes to stdout (a generated completion script, say).
pub fn stdout_bytes(bytes: &[u8]) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut o = io::stdout().lock();
    if let Err(e) = o.write_all(bytes).and_then(|()| o.flush()) {
        failed(e, "stdout");
    }
}

/// Writes `args` to stderr; a failure there has nowhere to be reported, so it is dropped.
pub fn stderr(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

fn failed(e: io::Error, what: &str) {
    if e.kind() == io::ErrorKind::BrokenPipe {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        return;
    }
    // Anything else (a full disk under `> file`) is an error the user must see.
    stderr(format_args!("kiln: cannot write to {what}: {e}\n"));
    std::process::exit(1);
}

/// Whether a write found stdout to be a closed pipe.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Ends the process as SIGPIPE would have, if stdout was found closed; else returns.
pub fn finish() {
    if !stdout_closed() {
        return;
    }
    // SAFETY: restores the default disposition of SIGPIPE and raises it on this thread;
    // no handler of ours is involved, and the default action ends the whole process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE);
}
