//! `scripted_model`: the wire tests' scripted model server as a program, for the editors'
//! end-to-end tests and manual runs. Prints its base URL (`http://127.0.0.1:PORT`) on the first
//! line of stdout, then serves until it is killed.
//!
//! Options: `--port N` (default 0: any free port), `--reply TEXT` (the default reply, text
//! streamed in each provider's wire format; `\n` escapes allowed), `--delay-ms N` (wait before
//! answering), `--requests-log FILE` (each request received, one JSON object a line),
//! `--reply-at TEMPERATURE=TEXT` (the reply to requests at that sampling temperature instead,
//! repeatable: inline completion's alternatives ask at 0.6 and 0.8).
//!
//! `--agent` serves the scripted *agent* model instead (`agent_model.rs`): every agent makes one
//! tool call, found from the tool schemas it offers, that writes `--agent-file PATH` (default
//! `hello.txt`) with `--agent-content TEXT` (default `hello from baton\n`), then ends with
//! `--agent-message TEXT`. `--agent-tool auto|write|edit|shell` forces a kind of tool,
//! `--agent-after finish|hang|STATUS` says what follows the tool call, `--agent-reject STATUS`
//! refuses every generation request (with the format's error body), `--agent-models A,B` names
//! the listed models. Its request log has the wire format, model, tools offered and the answer.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::time::Duration;

use baton_test_support::agent_model::{AfterTool, AgentModel, AgentPlan, ToolPreference};
use baton_test_support::model_server::{ModelServer, Reply};
use serde_json::Value;

#[tokio::main]
async fn main() {
    let mut port: u16 = 0;
    let mut reply = String::from("baton_suggestion()");
    let mut delay_ms = 0u64;
    let mut replies_at: Vec<(f64, String)> = Vec::new();
    let mut log: Option<String> = None;
    let mut agent: Option<AgentPlan> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{a} needs a value")));
        match a.as_str() {
            "--port" => port = value().parse().unwrap_or_else(|_| fail("--port takes a number")),
            "--reply" => reply = value().replace("\\n", "\n"),
            "--reply-at" => {
                let v = value();
                let (t, text) = v.split_once('=').unwrap_or_else(|| fail("--reply-at takes TEMPERATURE=TEXT"));
                let t = t.parse().unwrap_or_else(|_| fail("--reply-at takes a number before `=`"));
                replies_at.push((t, text.replace("\\n", "\n")));
            }
            "--delay-ms" => delay_ms = value().parse().unwrap_or_else(|_| fail("--delay-ms takes a number")),
            "--requests-log" => log = Some(value()),
            "--agent" => {
                agent.get_or_insert_with(AgentPlan::default);
            }
            "--agent-file" => agent.get_or_insert_with(AgentPlan::default).path = value(),
            "--agent-content" => agent.get_or_insert_with(AgentPlan::default).content = value().replace("\\n", "\n"),
            "--agent-message" => agent.get_or_insert_with(AgentPlan::default).final_message = value(),
            "--agent-tool" => {
                agent.get_or_insert_with(AgentPlan::default).prefer = ToolPreference::parse(&value())
                    .unwrap_or_else(|| fail("--agent-tool takes auto, write, edit or shell"))
            }
            "--agent-after" => {
                agent.get_or_insert_with(AgentPlan::default).after_tool = match value().as_str() {
                    "finish" => AfterTool::Finish,
                    "hang" => AfterTool::Hang,
                    code => AfterTool::Status(
                        code.parse().unwrap_or_else(|_| fail("--agent-after takes finish, hang or a status")),
                        r#"{"error":{"message":"scripted failure"}}"#.to_owned(),
                    ),
                }
            }
            "--agent-reject" => {
                agent.get_or_insert_with(AgentPlan::default).reject =
                    Some(value().parse().unwrap_or_else(|_| fail("--agent-reject takes an HTTP status")))
            }
            "--agent-models" => {
                agent.get_or_insert_with(AgentPlan::default).models = value().split(',').map(str::to_owned).collect()
            }
            other => fail(&format!("unknown option {other}")),
        }
    }
    if let Some(plan) = agent {
        return serve_agent(port, plan, log).await;
    }
    let server = ModelServer::start_on(port).await;
    server.set_default(Reply::text(reply));
    for (t, text) in replies_at {
        server.set_default_at(t, Reply::text(text));
    }
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
        {
            append_lines(
                path,
                requests[seen..]
                    .iter()
                    .map(|r| serde_json::json!({ "method": r.method, "path": r.path, "body": r.body })),
            );
        }
        seen = requests.len();
    }
}

/// The scripted agent model until killed, mirroring its requests into `log`.
async fn serve_agent(port: u16, plan: AgentPlan, log: Option<String>) {
    let model = AgentModel::start_on(port, plan).await;
    println!("{}", model.base_url());
    let _ = std::io::stdout().flush();
    let mut seen = 0usize;
    loop {
        // Polling, as above: only mirrors requests into a file for scripts.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let requests = model.requests();
        if let Some(path) = &log
            && requests.len() > seen
        {
            append_lines(path, requests[seen..].iter().map(|r| r.to_json()));
        }
        seen = requests.len();
    }
}

/// Appends one JSON value per line to the log at `path`, in one write: written piece by piece
/// (as `writeln!` formats a value), a script that kills this process mid-line left half a line
/// for its reader. A log that cannot be opened is skipped (the scripts then see no requests).
fn append_lines(path: &str, values: impl Iterator<Item = Value>) {
    let lines: String = values.map(|v| format!("{v}\n")).collect();
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(lines.as_bytes());
    }
}

fn fail(message: &str) -> ! {
    eprintln!("scripted_model: {message}");
    std::process::exit(2)
}
