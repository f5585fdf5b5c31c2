//! `scripted_model`: the wire tests' scripted model server as a program, for the editors'
//! end-to-end tests and manual runs. Prints its base URL (`http://127.0.0.1:PORT`) on the first
//! line of stdout, then serves until it is killed.
//!
//! Options: `--port N` (default 0: any free port), `--reply TEXT` (the default reply, text
//! streamed in each provider's wire format; `\n` escapes allowed), `--delay-ms N` (wait before
//! answering), `--requests-log FILE` (each request received, one JSON object a line).

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../wire/support/model_server.rs"]
mod model_server;

use std::io::Write;
use std::time::Duration;

use model_server::{ModelServer, Reply};

#[tokio::main]
async fn main() {
    let mut port: u16 = 0;
    let mut reply = String::from("baton_suggestion()");
    let mut delay_ms = 0u64;
    let mut log: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{a} needs a value")));
        match a.as_str() {
            "--port" => port = value().parse().unwrap_or_else(|_| fail("--port takes a number")),
            "--reply" => reply = value().replace("\\n", "\n"),
            "--delay-ms" => delay_ms = value().parse().unwrap_or_else(|_| fail("--delay-ms takes a number")),
            "--requests-log" => log = Some(value()),
            other => fail(&format!("unknown option {other}")),
        }
    }
    let server = ModelServer::start_on(port).await;
    server.set_default(Reply::text(reply));
    server.set_delay_ms(delay_ms);
    println!("{}", server.base_url());
    let _ = std::io::stdout().flush();
    let mut seen = 0usize;
    loop {
        // Polling the request list (not waiting on an event) is fine here: this only mirrors
        // requests into a log file for tests written in other languages.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let requests = server.requests();
        if let Some(path) = &log
            && requests.len() > seen
            && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path)
        {
            for r in &requests[seen..] {
                let line = serde_json::json!({ "method": r.method, "path": r.path, "body": r.body });
                let _ = writeln!(f, "{line}");
            }
        }
        seen = requests.len();
    }
}

fn fail(message: &str) -> ! {
    eprintln!("scripted_model: {message}");
    std::process::exit(2)
}
