//! An LSP client for tests: spawns the real `baton` binary, speaks JSON-RPC over its stdio with
//! `Content-Length` framing, answers the server's requests (applyEdit, progress, messages), and
//! lets tests wait on notifications without sleeping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::{oneshot, watch};

/// How long a test waits for anything before failing.
pub const TIMEOUT: Duration = Duration::from_secs(20);

type Pending = Arc<Mutex<HashMap<i64, oneshot::Sender<Value>>>>;

/// What the client answers to `window/showMessageRequest`: the title of the action to pick.
pub type MessageAnswer = Arc<Mutex<Option<String>>>;

/// The server's input; `None` once the test closed it.
type Stdin = Arc<tokio::sync::Mutex<Option<ChildStdin>>>;

/// A running `baton` with an initialized session.
pub struct Client {
    child: Child,
    stdin: Stdin,
    next_id: Mutex<i64>,
    pending: Pending,
    /// Every message the server sent that was not a response, in order.
    inbox: Arc<Mutex<Vec<Value>>>,
    inbox_len: watch::Receiver<usize>,
    /// Every response whose id is not one this client is waiting for (null ids, string ids,
    /// batch arrays), in order.
    strays: Arc<Mutex<Vec<Value>>>,
    strays_len: watch::Receiver<usize>,
    pub message_answer: MessageAnswer,
    /// What `workspace/applyEdit` answers (`applied`).
    pub apply_edits: Arc<Mutex<bool>>,
    /// When true, `window/workDoneProgress/create` is answered with an error.
    pub refuse_progress: Arc<Mutex<bool>>,
    pub log_file: PathBuf,
    _log_dir: tempfile::TempDir,
    pub initialize_result: Value,
    /// The whole answer to `initialize` (`result` or `error`).
    pub initialize_response: Value,
}

/// Client capabilities for a VS Code-like client: inline completion, status and task
/// notifications, progress, showDocument, annotated workspace edits with file operations.
pub fn rich_capabilities() -> Value {
    json!({
        "general": { "positionEncodings": ["utf-16"] },
        "textDocument": { "inlineCompletion": { "dynamicRegistration": false } },
        "window": { "workDoneProgress": true, "showDocument": { "support": true }, "showMessage": { "messageActionItem": { "additionalPropertiesSupport": false } } },
        "workspace": { "workspaceEdit": { "documentChanges": true, "resourceOperations": ["create", "rename", "delete"], "changeAnnotationSupport": { "groupsOnLabel": false } } },
        "experimental": { "baton": { "status": true, "tasks": true } },
    })
}

/// Client capabilities for a Helix-like client: no inline completion, no status.
pub fn plain_capabilities() -> Value {
    json!({ "textDocument": { "completion": { "completionItem": { "snippetSupport": false } } } })
}

impl Client {
    /// Starts `program` (the binary under test: [`baton!`](crate::baton)) and runs
    /// `initialize`/`initialized` with these capabilities and initialization options.
    pub async fn start(program: &Path, capabilities: Value, options: Value) -> Client {
        Self::start_with(program, capabilities, options, &[], None).await
    }

    /// [`Client::start`] with `envs` added to the server's environment and `root` as the
    /// workspace's `rootUri`. `program` may be another build (a benchmark compares with one).
    pub async fn start_with(
        program: &Path,
        capabilities: Value,
        options: Value,
        envs: &[(&str, &str)],
        root: Option<&Path>,
    ) -> Client {
        Self::start_wrapped(&[], program, capabilities, options, envs, root).await
    }

    /// [`Client::start_with`] with `program` started through `wrapper` (a program and its
    /// arguments, such as `unshare ... sh -c '...; exec "$0" "$@"'`), which must end by
    /// executing the command line it is given.
    pub async fn start_wrapped(
        wrapper: &[String],
        program: &Path,
        capabilities: Value,
        options: Value,
        envs: &[(&str, &str)],
        root: Option<&Path>,
    ) -> Client {
        let log_dir = tempfile::tempdir().expect("tempdir");
        let log_file = log_dir.path().join("baton.log");
        let mut cmd = match wrapper.split_first() {
            Some((wrapper, args)) => {
                let mut cmd = tokio::process::Command::new(wrapper);
                cmd.args(args).arg(program);
                cmd
            }
            None => tokio::process::Command::new(program),
        };
        cmd.arg("--log-file").arg(&log_file).arg("--log-level").arg("debug");
        // Isolate from the developer's own config.
        cmd.env("BATON_CONFIG", log_dir.path().join("no-user-config.toml"));
        // Tasks go to a database of this test's own unless the test shares one.
        cmd.env("BATON_DATA_DIR", log_dir.path().join("data"));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn baton");
        let stdin: Stdin = Arc::new(tokio::sync::Mutex::new(Some(child.stdin.take().expect("stdin"))));
        let stdout = child.stdout.take().expect("stdout");
        let pending: Pending = Arc::default();
        let inbox: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (len_tx, inbox_len) = watch::channel(0usize);
        let strays: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (strays_tx, strays_len) = watch::channel(0usize);
        let message_answer: MessageAnswer = Arc::default();
        let apply_edits = Arc::new(Mutex::new(true));
        let refuse_progress = Arc::new(Mutex::new(false));
        {
            let (pending, inbox, stdin, answer, apply) =
                (pending.clone(), inbox.clone(), stdin.clone(), message_answer.clone(), apply_edits.clone());
            let refuse = refuse_progress.clone();
            let strays = strays.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stdout);
                while let Some(msg) = read_message(&mut reader).await {
                    if msg.get("method").is_none() {
                        let waiter = msg["id"].as_i64().and_then(|id| pending.lock().expect("pending").remove(&id));
                        match waiter {
                            Some(tx) => {
                                let _ = tx.send(msg);
                            }
                            None => {
                                let n = {
                                    let mut strays = strays.lock().expect("strays");
                                    strays.push(msg);
                                    strays.len()
                                };
                                let _ = strays_tx.send(n);
                            }
                        }
                        continue;
                    }
                    if let Some(id) = msg.get("id").cloned() {
                        let result = match msg["method"].as_str().unwrap_or("") {
                            "workspace/applyEdit" => json!({ "applied": *apply.lock().expect("apply") }),
                            "window/showDocument" => json!({ "success": true }),
                            "window/showMessageRequest" => match answer.lock().expect("answer").clone() {
                                Some(title) => json!({ "title": title }),
                                None => Value::Null,
                            },
                            _ => Value::Null,
                        };
                        let refused =
                            msg["method"] == "window/workDoneProgress/create" && *refuse.lock().expect("refuse");
                        let reply = if refused {
                            json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32601, "message": "no progress here" } })
                        } else {
                            json!({ "jsonrpc": "2.0", "id": id, "result": result })
                        };
                        write_message(&mut *stdin.lock().await, &reply).await;
                    }
                    let n = {
                        let mut inbox = inbox.lock().expect("inbox");
                        inbox.push(msg);
                        inbox.len()
                    };
                    let _ = len_tx.send(n);
                }
            });
        }
        let mut client = Client {
            child,
            stdin,
            next_id: Mutex::new(1),
            pending,
            inbox,
            inbox_len,
            strays,
            strays_len,
            message_answer,
            apply_edits,
            refuse_progress,
            log_file,
            _log_dir: log_dir,
            initialize_result: Value::Null,
            initialize_response: Value::Null,
        };
        let root_uri = root.map(|r| format!("file://{}", r.display()));
        let init = client
            .request(
                "initialize",
                json!({
                    "processId": null,
                    "rootUri": root_uri,
                    "capabilities": capabilities,
                    "initializationOptions": options,
                }),
            )
            .await;
        client.initialize_result = init.get("result").cloned().unwrap_or(Value::Null);
        client.initialize_response = init;
        client.notify("initialized", json!({})).await;
        client
    }

    /// Sends a request and waits for its response (the whole message: `result` or `error`).
    pub async fn request(&self, method: &str, params: Value) -> Value {
        let (id, rx) = self.send_request(method, params).await;
        tokio::time::timeout(TIMEOUT, rx)
            .await
            .unwrap_or_else(|_| panic!("no response to {method} (id {id}) within {TIMEOUT:?}"))
            .expect("response channel")
    }

    /// Sends a request and returns its id and a receiver for the response.
    pub async fn send_request(&self, method: &str, params: Value) -> (i64, oneshot::Receiver<Value>) {
        let id = {
            let mut n = self.next_id.lock().expect("id");
            *n += 1;
            *n
        };
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending").insert(id, tx);
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        write_message(&mut *self.stdin.lock().await, &msg).await;
        (id, rx)
    }

    pub async fn notify(&self, method: &str, params: Value) {
        let msg = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        write_message(&mut *self.stdin.lock().await, &msg).await;
    }

    pub async fn open(&self, uri: &str, language_id: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": language_id, "version": 1, "text": text } }),
        )
        .await;
    }

    /// Sends one incremental change (positions in the negotiated encoding).
    pub async fn change(&self, uri: &str, version: i32, start: (u32, u32), end: (u32, u32), text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "range": range(start, end), "text": text }],
            }),
        )
        .await;
    }

    /// Requests an inline completion and returns the items' insert texts.
    pub async fn inline(&self, uri: &str, line: u32, character: u32, invoked: bool) -> Vec<String> {
        let resp = self.request("textDocument/inlineCompletion", inline_params(uri, line, character, invoked)).await;
        items_text(&resp)
    }

    /// Every non-response message received so far.
    pub fn inbox(&self) -> Vec<Value> {
        self.inbox.lock().expect("inbox").clone()
    }

    /// Waits until the server has sent a message with this method matching `pred`.
    pub async fn wait_for(&self, method: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_after(0, method, pred).await
    }

    /// [`Client::wait_for`] among the messages after the first `skip` of the [`Client::inbox`].
    pub async fn wait_for_after(&self, skip: usize, method: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut rx = self.inbox_len.clone();
        let found = tokio::time::timeout(TIMEOUT, async {
            loop {
                if let Some(m) =
                    self.inbox().into_iter().skip(skip).find(|m| m["method"] == method && pred(&m["params"]))
                {
                    return m;
                }
                if rx.changed().await.is_err() {
                    panic!("server closed its output while waiting for {method}");
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no {method} matching within {TIMEOUT:?}; got: {:#?}", self.inbox()))
    }

    /// Sends bytes as they are: malformed frames, garbage, several frames at once.
    pub async fn send_raw(&self, bytes: &[u8]) {
        write_bytes(&mut *self.stdin.lock().await, bytes).await;
    }

    /// Responses that matched no request of this client's, so far.
    pub fn strays(&self) -> Vec<Value> {
        self.strays.lock().expect("strays").clone()
    }

    /// Waits for the `n`-th (from 0) stray response and returns it.
    pub async fn stray(&self, n: usize) -> Value {
        let mut rx = self.strays_len.clone();
        let found = tokio::time::timeout(TIMEOUT, async {
            loop {
                if let Some(m) = self.strays().get(n) {
                    return m.clone();
                }
                if rx.changed().await.is_err() {
                    panic!("server closed its output while waiting for stray response {n}");
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no stray response {n} within {TIMEOUT:?}; got: {:#?}", self.strays()))
    }

    /// Closes the server's input (end of input).
    pub async fn close_input(&self) {
        self.stdin.lock().await.take();
    }

    /// Waits for the process to end; returns its exit code and the whole log it wrote.
    pub async fn wait_exit(mut self) -> (Option<i32>, String) {
        let status = tokio::time::timeout(TIMEOUT, self.child.wait()).await.expect("exit in time").expect("wait");
        (status.code(), self.log())
    }

    /// The log the server wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// `shutdown` then `exit`; returns the process's exit code.
    pub async fn shutdown(self) -> Option<i32> {
        let resp = self.request("shutdown", Value::Null).await;
        assert!(resp.get("error").is_none(), "shutdown failed: {resp}");
        self.notify("exit", Value::Null).await;
        self.wait_exit().await.0
    }

    /// Kills the server process (SIGKILL: no shutdown, nothing cleaned up) and waits for it.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(TIMEOUT, self.child.wait()).await;
    }

    /// The server's process id (the wrapper's, which became the server, when started wrapped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// True while the server process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

pub fn range(start: (u32, u32), end: (u32, u32)) -> Value {
    json!({ "start": { "line": start.0, "character": start.1 }, "end": { "line": end.0, "character": end.1 } })
}

pub fn inline_params(uri: &str, line: u32, character: u32, invoked: bool) -> Value {
    json!({
        "textDocument": { "uri": uri },
        "position": { "line": line, "character": character },
        "context": { "triggerKind": if invoked { 1 } else { 2 } },
    })
}

/// The insert texts of an inline completion response.
pub fn items_text(resp: &Value) -> Vec<String> {
    let result = &resp["result"];
    let items = result.get("items").unwrap_or(result);
    items
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["insertText"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// One LSP frame: the `Content-Length` header, then the body as it is.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    frame.extend_from_slice(body);
    frame
}

async fn write_message(stdin: &mut Option<ChildStdin>, msg: &Value) {
    write_bytes(stdin, &frame(&serde_json::to_vec(msg).expect("serialize"))).await;
}

async fn write_bytes(stdin: &mut Option<ChildStdin>, bytes: &[u8]) {
    // A closed pipe means the server died; the test's next wait reports it.
    if let Some(stdin) = stdin {
        let _ = stdin.write_all(bytes).await;
        let _ = stdin.flush().await;
    }
}

/// Reads one LSP frame's JSON body from `reader`; `None` at the end of input or on a frame that
/// is not `Content-Length`-framed JSON.
pub async fn read_message<R: tokio::io::AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length:") {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0u8; length?];
    reader.read_exact(&mut body).await.ok()?;
    serde_json::from_slice(&body).ok()
}
