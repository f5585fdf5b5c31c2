//! `bare_server`: the least a completion language server can do per request, as the performance
//! benchmark's reference (`scripts/bench-perf.sh --servers baton,bare`). Its overhead is the
//! floor of the measurement on the machine at hand: what the harness, the pipes, one HTTP
//! exchange with the model and the wake-ups of three processes cost before any server does work
//! of its own.
//!
//! One thread, blocking I/O, no runtime: it reads each LSP message from stdin and parses it as
//! JSON, keeps no documents, and answers each `textDocument/inlineCompletion` request with one
//! `POST /v1/completions` (a fixed 10-character prompt, `"stream": false`) on one kept-alive
//! connection with `TCP_NODELAY`, then writes the answer's text as one item. It reads the model's answer by `Content-Length` only, as the
//! benchmark's scripted model (`tests/bench/perf/scripted_model.py`) writes it; it is not an HTTP
//! client for other servers.
//!
//! Settings: `initializationOptions.model_url` (`http://127.0.0.1:PORT`). A failed model call
//! answers the request with an LSP error (-32603) and drops the connection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use serde_json::{Value, json};

fn main() -> io::Result<()> {
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = io::stdout().lock();
    let mut model_addr = String::new();
    let mut model: Option<BufReader<TcpStream>> = None;
    while let Some(msg) = read_message(&mut input)? {
        let id = msg.get("id").cloned();
        let method = msg.get("method").and_then(Value::as_str).unwrap_or_default();
        let answer = match (method, id) {
            ("exit", _) => return Ok(()),
            ("initialize", Some(id)) => {
                model_addr = msg
                    .pointer("/params/initializationOptions/model_url")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim_start_matches("http://")
                    .to_owned();
                let caps = json!({"inlineCompletionProvider": {}, "textDocumentSync": 2});
                json!({"jsonrpc": "2.0", "id": id, "result": {"capabilities": caps}})
            }
            ("textDocument/inlineCompletion", Some(id)) => match complete(&mut model, &model_addr) {
                Ok(text) => {
                    json!({"jsonrpc": "2.0", "id": id, "result": {"items": [{"insertText": text}]}})
                }
                Err(e) => {
                    model = None;
                    json!({"jsonrpc": "2.0", "id": id,
                               "error": {"code": -32603, "message": format!("model call: {e}")}})
                }
            },
            (_, Some(id)) if !method.is_empty() => json!({"jsonrpc": "2.0", "id": id, "result": null}),
            _ => continue,
        };
        let body = answer.to_string();
        write!(output, "Content-Length: {}\r\n\r\n{body}", body.len())?;
        output.flush()?;
    }
    Ok(())
}

/// The next message's JSON, `None` at the end of the input. A frame that is not JSON reads as
/// `null` (answered by nothing).
fn read_message(input: &mut impl BufRead) -> io::Result<Option<Value>> {
    let mut length = None;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length = length.ok_or_else(|| io::Error::other("a frame without Content-Length"))?;
    let mut body = vec![0; length];
    input.read_exact(&mut body)?;
    Ok(Some(serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// One model call on the kept-alive connection (opened on first use): the answer's
/// `choices[0].text`. Errors: I/O, a status other than 200, an answer without a text.
fn complete(model: &mut Option<BufReader<TcpStream>>, addr: &str) -> io::Result<String> {
    let conn = match model {
        Some(conn) => conn,
        None => {
            let stream = TcpStream::connect(addr)?;
            stream.set_nodelay(true)?;
            model.insert(BufReader::new(stream))
        }
    };
    let body = json!({"model": "qwen2.5-coder", "prompt": "def f(a):\n", "max_tokens": 64,
                      "temperature": 0.0, "stream": false})
    .to_string();
    let request = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
        body.len()
    );
    conn.get_mut().write_all(request.as_bytes())?;
    let mut status = String::new();
    conn.read_line(&mut status)?;
    if !status.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!("status line {:?}", status.trim())));
    }
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        let header = line.trim();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().map_err(io::Error::other)?;
        }
    }
    let mut answer = vec![0; length];
    conn.read_exact(&mut answer)?;
    let answer: Value = serde_json::from_slice(&answer)?;
    answer
        .pointer("/choices/0/text")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| io::Error::other("an answer without choices[0].text"))
}
