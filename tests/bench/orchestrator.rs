//! Benchmark (not a test): `cargo bench --bench orchestrator` (`-- a` or `-- b` runs one part,
//! `-- rounds=N` changes the rounds of part (a), 3 by default). It runs only when given `--bench`
//! (as `cargo bench` does), so `cargo test --all-targets` builds it but does not run it.
//!
//! (a) Dispatch to agent running on a repository with 100,000 files (one commit made with
//!     `git fast-import` in a temporary directory): from the `baton.task.start` request, sent to
//!     the real `baton` binary over stdio, to the moment the task's CLI agent process is running
//!     (its script's first command opens a FIFO the benchmark is blocked reading). Measured in
//!     the same run, round by round in rotating order, against `git worktree add <dir> HEAD`
//!     (a full checkout) and `git worktree add --no-checkout <dir> HEAD` of the same repository.
//!     The task log's timestamps split Baton's time into its phases. Every checkout is kept until
//!     the end: on this machine's ext4 (mounted with `discard`) deleting 100,000 files makes the
//!     next checkouts several times slower for a while, which would swamp the comparison.
//! (b) Inline completion round trips on a 10,000-line file (the real binary over stdio, a
//!     scripted model that answers completions at once): with no task running, then while 10
//!     built-in agents run in the same server. The built-in agent is the kind that runs inside the
//!     server process (its model requests, tool calls, task log writes and progress reports share
//!     the server's runtime with completions); CLI and ACP agents are separate processes that the
//!     server only reads from. The agents' model (a second scripted server) answers every turn
//!     after 200 ms with the next of a cycle of real tool calls (list, search, read, write, run a
//!     command), a faster pace than real models (1-10 s a turn), so the load is heavier than
//!     real use. (b) runs first: (a) ends by deleting its checkouts.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton_test_support::baton;
use baton_test_support::client::{Client, inline_params, items_text, rich_capabilities};
use baton_test_support::documents::large_rust_file;
use baton_test_support::git::{git, git_init};
use baton_test_support::model_server::{ModelServer, Reply};
use serde_json::{Value, json};

/// Files in the repository of part (a).
const LARGE_REPO_FILES: usize = 100_000;
/// Files (besides the 10,000-line one) in the repository of part (b).
const SMALL_REPO_FILES: usize = 1_000;
/// Background agents in part (b).
const AGENTS: usize = 10;
/// The agents' model latency per turn in part (b), in milliseconds.
const AGENT_TURN_MS: u64 = 200;
/// Inline completion requests measured per phase of part (b).
const COMPLETIONS: usize = 300;
/// How long anything in this benchmark may take before it gives up.
const DEADLINE: Duration = Duration::from_secs(180);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// A new repository at `root` (branch `main`, identity set) whose one commit holds `files`,
/// written with `git fast-import` (no working tree checkout). Returns the time it took.
fn fast_import_repo(root: &Path, files: impl Iterator<Item = (String, String)>) -> Duration {
    let start = Instant::now();
    git_init(root, "Bench");
    git(root, &["config", "gc.auto", "0"]);
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn git fast-import");
    {
        let mut w = std::io::BufWriter::new(child.stdin.take().expect("stdin"));
        let message = "Generated repository for the orchestrator benchmark\n";
        write!(
            w,
            "commit refs/heads/main\nauthor Bench <bench@example.com> 1700000000 +0000\n\
             committer Bench <bench@example.com> 1700000000 +0000\ndata {}\n{message}",
            message.len()
        )
        .expect("write");
        for (path, content) in files {
            write!(w, "M 100644 inline {path}\ndata {}\n{content}\n", content.len()).expect("write");
        }
        w.flush().expect("flush");
    }
    let out = child.wait_with_output().expect("wait for git fast-import");
    assert!(out.status.success(), "git fast-import failed: {}", String::from_utf8_lossy(&out.stderr));
    start.elapsed()
}

/// `count` small, distinct Rust files spread over packages and modules like a large monorepo.
fn source_files(count: usize) -> impl Iterator<Item = (String, String)> {
    (0..count).map(|i| {
        let (pkg, module, file) = (i / 500, (i / 20) % 25, i % 20);
        let path = format!("pkg{pkg:03}/src/mod{module:02}/file{file:02}.rs");
        let content = format!(
            "// {path}\nuse std::collections::HashMap;\n\n/// Helper {i}.\npub fn helper_{i}(map: &HashMap<String, u64>, x: u64) -> u64 {{\n    map.get(\"k{i}\").copied().unwrap_or(0).wrapping_mul(x) + {i}\n}}\n"
        );
        (path, content)
    })
}

async fn execute(client: &Client, command: &str, argument: Value, limit: Duration) -> Value {
    let (id, rx) =
        client.send_request("workspace/executeCommand", json!({ "command": command, "arguments": [argument] })).await;
    let resp = tokio::time::timeout(limit, rx)
        .await
        .unwrap_or_else(|_| panic!("no answer to {command} (request {id}) within {limit:?}"))
        .expect("response channel");
    assert!(resp.get("error").is_none(), "{command} failed: {resp}");
    resp["result"].clone()
}

/// Starts blocking (on a blocking thread) until a writer opens the FIFO at `path` and closes it
/// again; the thread answers the moment the writer opened it.
fn read_fifo(path: &Path) -> tokio::task::JoinHandle<Instant> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&p).expect("open the FIFO");
        let opened = Instant::now();
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        opened
    })
}

/// Waits for [`read_fifo`]'s answer; after `limit`, unblocks the reader and panics.
async fn fifo_opened(reader: tokio::task::JoinHandle<Instant>, path: &Path, limit: Duration) -> Instant {
    match tokio::time::timeout(limit, reader).await {
        Ok(r) => r.expect("FIFO reader"),
        Err(_) => {
            // Release the blocked reader before failing.
            let _ = std::fs::OpenOptions::new().write(true).open(path);
            panic!("the agent did not start within {limit:?}");
        }
    }
}

/// Milliseconds from `t0_ms` to the first task log line containing `needle`.
fn log_at(log: &[Value], needle: &str, t0_ms: i64) -> Option<f64> {
    log.iter()
        .find(|l| l["line"].as_str().is_some_and(|s| s.contains(needle)))
        .and_then(|l| l["timeMs"].as_i64())
        .map(|t| (t - t0_ms) as f64)
}

#[derive(Clone, Copy, Debug)]
enum Method {
    Baton,
    GitFull,
    GitNoCheckout,
}

/// One Baton round's phases, in milliseconds since the request was sent.
#[derive(Default, Clone, Copy)]
struct Phases {
    answered: f64,
    creating: f64,
    checking_out: f64,
    checked_out: f64,
    running: f64,
    agent: f64,
    ready: f64,
}

async fn dispatch_on_a_large_repository(rounds: usize) {
    println!("(a) dispatch to agent running on a repository with {LARGE_REPO_FILES} files ({rounds} rounds):");
    println!("    load average before: {}", load_average());
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().canonicalize().expect("canonical tempdir");
    let root = base.join("monorepo");
    let took = fast_import_repo(&root, source_files(LARGE_REPO_FILES));
    let count = git(&root, &["ls-tree", "-r", "--name-only", "HEAD"]).lines().count();
    assert_eq!(count, LARGE_REPO_FILES, "generated repository");
    let pack_kb: u64 = std::fs::read_dir(root.join(".git/objects/pack"))
        .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len() / 1024).sum())
        .unwrap_or(0);
    println!(
        "    generated with git fast-import in {:.1} s ({count} files in one commit, {pack_kb} KiB pack; \
         the main working tree is not checked out: git worktree add never reads it)",
        took.as_secs_f64()
    );

    let fifo = base.join("agent-started.fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo (coreutils)");
    assert!(status.success(), "mkfifo failed");
    let script = base.join("agent.sh");
    std::fs::write(
        &script,
        format!("printf 'running\\n' > '{}'\nprintf 'bench\\n' > BENCH.md\necho 'Wrote BENCH.md'\n", fifo.display()),
    )
    .expect("agent script");
    std::fs::write(
        root.join("baton.toml"),
        format!(
            "[[agents]]\nname = \"bench\"\nkind = \"cli\"\ncommand = [\"sh\", \"{}\", \"{{prompt}}\"]\ntime_limit_ms = 600000\n\
             read_only_paths = [\"{}\"]\n\n[orchestrator]\ndefault_agent = \"bench\"\n",
            script.display(),
            base.display()
        ),
    )
    .expect("baton.toml");
    let data = base.join("data");
    let data_s = data.to_string_lossy().into_owned();
    let options = json!({ "provider": { "base_url": "http://127.0.0.1:9/v1", "max_retries": 0 } });
    let client =
        Client::start_with(baton!(), rich_capabilities(), options, &[("BATON_DATA_DIR", &data_s)], Some(&root)).await;

    let methods = [Method::Baton, Method::GitFull, Method::GitNoCheckout];
    let (mut baton, mut full, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    let mut phases: Vec<Phases> = Vec::new();
    let mut ls_files = Vec::new();
    for round in 0..rounds {
        for k in 0..methods.len() {
            let method = methods[(round + k) % methods.len()];
            // Let the previous step's writeback finish so it does not land on this one.
            let _ = Command::new("sync").status();
            match method {
                Method::Baton => {
                    // The reader is blocked in open(2) before the request leaves.
                    let reader = read_fifo(&fifo);
                    let t0_ms = now_ms();
                    let t0 = Instant::now();
                    let (id, rx) = client
                        .send_request(
                            "workspace/executeCommand",
                            json!({ "command": "baton.task.start", "arguments": [{ "prompt": format!("Benchmark round {round}") }] }),
                        )
                        .await;
                    let (answer, agent_at) = tokio::join!(
                        async {
                            let r = tokio::time::timeout(DEADLINE, rx)
                                .await
                                .expect("baton.task.start answered")
                                .expect("response");
                            (r, t0.elapsed())
                        },
                        fifo_opened(reader, &fifo, DEADLINE)
                    );
                    let (resp, answered) = answer;
                    let elapsed = agent_at.duration_since(t0);
                    let task = resp["result"]["id"]
                        .as_i64()
                        .unwrap_or_else(|| panic!("baton.task.start (request {id}): {resp}"));
                    baton.push(ms(elapsed));
                    // The agent exits at once; the pull request (commit, diff stat) follows. Poll
                    // the task with a deadline until it is ready, so rounds do not overlap.
                    let deadline = Instant::now() + DEADLINE;
                    let shown = loop {
                        let shown = execute(&client, "baton.task.show", json!({ "id": task }), DEADLINE).await;
                        let state = shown["task"]["state"].as_str().unwrap_or("").to_owned();
                        if state == "ready" {
                            break shown;
                        }
                        assert!(matches!(state.as_str(), "running" | "checking"), "task {task} is {state}: {shown}");
                        assert!(Instant::now() < deadline, "task {task} was not ready within {DEADLINE:?}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    };
                    let log = shown["log"].as_array().cloned().unwrap_or_default();
                    let at = |needle: &str| log_at(&log, needle, t0_ms).unwrap_or(f64::NAN);
                    phases.push(Phases {
                        answered: ms(answered),
                        creating: at("[preparing] creating worktree"),
                        checking_out: at("[preparing] checking out files"),
                        checked_out: at("[preparing] checked out"),
                        running: at("[running]"),
                        agent: ms(elapsed),
                        ready: at("[ready]"),
                    });
                    let checked = log
                        .iter()
                        .filter_map(|l| l["line"].as_str())
                        .find(|l| l.contains("checked out"))
                        .unwrap_or("")
                        .to_owned();
                    assert!(checked.contains(&format!("checked out {LARGE_REPO_FILES} files")), "{checked}");
                }
                Method::GitFull | Method::GitNoCheckout => {
                    let kind = if matches!(method, Method::GitFull) { "full" } else { "no-checkout" };
                    let dir = base.join(format!("plain-{kind}-{round}"));
                    let d = dir.to_string_lossy().into_owned();
                    let mut args = vec!["worktree", "add"];
                    if matches!(method, Method::GitNoCheckout) {
                        args.push("--no-checkout");
                    }
                    args.extend([d.as_str(), "HEAD"]);
                    let t = Instant::now();
                    git(&root, &args);
                    let took = ms(t.elapsed());
                    if matches!(method, Method::GitFull) {
                        full.push(took);
                        // What Baton's extra `git ls-files` (to count the files) costs.
                        let t = Instant::now();
                        let n = git(&dir, &["ls-files"]).lines().count();
                        ls_files.push(ms(t.elapsed()));
                        assert_eq!(n, LARGE_REPO_FILES);
                    } else {
                        bare.push(took);
                    }
                }
            }
        }
        println!(
            "    round {}: baton {:.0} ms, git worktree add {:.0} ms, --no-checkout {:.0} ms",
            round + 1,
            baton[round],
            full[round],
            bare[round]
        );
    }
    let stats = |v: &[f64]| {
        let s = sorted(v.to_vec());
        (percentile(&s, 0.5), s[0], s[s.len() - 1])
    };
    let (b50, bmin, bmax) = stats(&baton);
    let (f50, fmin, fmax) = stats(&full);
    let (n50, nmin, nmax) = stats(&bare);
    println!("    baton.task.start -> agent process running:   median {b50:.0} ms (min {bmin:.0}, max {bmax:.0})");
    println!("    git worktree add <dir> HEAD (full checkout): median {f50:.0} ms (min {fmin:.0}, max {fmax:.0})");
    println!("    git worktree add --no-checkout <dir> HEAD:   median {n50:.0} ms (min {nmin:.0}, max {nmax:.0})");
    println!("    ratio baton / full checkout: {:.2} (medians); baton / --no-checkout: {:.1}", b50 / f50, b50 / n50);
    let med = |f: fn(&Phases) -> f64| percentile(&sorted(phases.iter().map(f).collect()), 0.5);
    let (answered, creating, checking_out, checked_out, running, agent, ready) = (
        med(|p| p.answered),
        med(|p| p.creating),
        med(|p| p.checking_out),
        med(|p| p.checked_out),
        med(|p| p.running),
        med(|p| p.agent),
        med(|p| p.ready),
    );
    println!(
        "    baton's phases (medians, ms after the request, from the task log's millisecond timestamps):\n      \
         request answered {answered:.0} | worktree add --no-checkout starts {creating:.0} | \
         checkout starts {checking_out:.0} | checkout + ls-files done {checked_out:.0} | \
         state running {running:.0} | agent process running {agent:.0}"
    );
    println!(
        "      so: --no-checkout step {:.0} ms, checkout --progress --force HEAD + ls-files {:.0} ms \
         (git ls-files alone in a plain worktree: median {:.0} ms), after the agent is spawned {:.0} ms",
        checking_out - creating,
        checked_out - checking_out,
        percentile(&sorted(ls_files), 0.5),
        agent - running
    );
    println!(
        "      then: agent exit to pull request ready (git add -A, commit, diff stat in the 100,000-file worktree): {:.0} ms",
        ready - agent
    );
    println!("    load average after: {}", load_average());
    let _ = client.shutdown().await;
    let checkouts = 2 * rounds;
    let t = Instant::now();
    drop(tmp);
    println!(
        "    removing the {checkouts} full checkouts at the end (not measured above) took {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// The built-in agents' tool calls, cycled: what a coding agent surveying and changing a
/// repository does.
fn agent_turn(n: usize) -> Reply {
    let k = n / 5;
    match n % 5 {
        0 => Reply::tool_call("list_files", json!({ "path": format!("pkg{:03}", k % 2), "recursive": true })),
        1 => Reply::tool_call("search", json!({ "pattern": format!("fn helper_{}[0-9]\\b", k % 100), "path": "." })),
        2 => Reply::tool_call(
            "read_file",
            json!({ "path": format!("pkg000/src/mod{:02}/file{:02}.rs", k % 25, k % 20) }),
        ),
        3 => Reply::tool_call(
            "write_file",
            json!({ "path": format!("notes/note{}.md", k % 50), "content": format!("# Note {k}\n\nhelper_{k} looks fine.\n") }),
        ),
        _ => Reply::tool_call("run_command", json!({ "command": "git status --short | tail -n 3" })),
    }
}

async fn completion_round_trips(client: &Client, uri: &str, targets: &[u32], version: &mut i32, n: usize) -> Vec<f64> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let line = targets[(i * 37) % targets.len()];
        *version += 1;
        client.change(uri, *version, (line, 4), (line, 4), "x").await;
        let t = Instant::now();
        let resp = client.request("textDocument/inlineCompletion", inline_params(uri, line, 5, true)).await;
        times.push(ms(t.elapsed()));
        assert!(resp.get("error").is_none(), "{resp}");
        assert!(!items_text(&resp).is_empty(), "the scripted model's suggestion came back: {resp}");
        *version += 1;
        client.change(uri, *version, (line, 4), (line, 5), "").await;
    }
    sorted(times)
}

async fn task_states(client: &Client) -> Vec<String> {
    execute(client, "baton.task.list", Value::Null, DEADLINE)
        .await
        .as_array()
        .map(|a| a.iter().map(|t| t["state"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}

fn count_methods(inbox: &[Value], method: &str) -> usize {
    inbox.iter().filter(|m| m["method"] == method).count()
}

async fn completion_while_agents_run() {
    println!("(b) inline completion while {AGENTS} built-in agents run (agents' model: {AGENT_TURN_MS} ms a turn):");
    println!("    load average before: {}", load_average());
    let completion_model = ModelServer::start().await;
    completion_model.set_default(Reply::text("value + 1"));
    let agent_model = ModelServer::start().await;
    agent_model.set_delay_ms(AGENT_TURN_MS);
    // Enough turns that no agent runs out during the measurement (checked below).
    for n in 0..AGENTS * 400 {
        agent_model.push_for("/v1/chat/completions", agent_turn(n));
    }

    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical tempdir").join("repo");
    let (text, targets) = large_rust_file();
    let files = source_files(SMALL_REPO_FILES).chain([("src/large.rs".to_owned(), text.clone())]);
    let took = fast_import_repo(&root, files);
    git(&root, &["checkout", "-q", "-f", "main"]);
    std::fs::write(
        root.join("baton.toml"),
        format!(
            "[[agents]]\nname = \"builtin\"\nkind = \"builtin\"\nmax_concurrent = {AGENTS}\ntime_limit_ms = 600000\n\
             max_steps = 100000\nmax_tokens = 1000000000\n\
             [agents.model]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"scripted-agent\"\nmax_retries = 0\ntimeout_ms = 60000\n\n\
             [orchestrator]\ndefault_agent = \"builtin\"\n",
            agent_model.base_url()
        ),
    )
    .expect("baton.toml");
    println!(
        "    repository: {} files plus the {}-line src/large.rs, generated in {:.1} s",
        SMALL_REPO_FILES,
        text.lines().count(),
        took.as_secs_f64()
    );

    let data = tmp.path().join("data");
    let data_s = data.to_string_lossy().into_owned();
    let options = json!({
        "provider": { "kind": "openai", "base_url": format!("{}/v1", completion_model.base_url()), "model": "qwen2.5-coder", "max_retries": 0 },
        "completion": { "debounce_ms": 0, "max_debounce_ms": 300 },
    });
    let client =
        Client::start_with(baton!(), rich_capabilities(), options, &[("BATON_DATA_DIR", &data_s)], Some(&root)).await;
    let uri = format!("file://{}", root.join("src/large.rs").display());
    client.open(&uri, "rust", &text).await;
    let mut version = 1;

    completion_round_trips(&client, &uri, &targets, &mut version, 20).await; // warm-up
    let idle = completion_round_trips(&client, &uri, &targets, &mut version, COMPLETIONS).await;

    for i in 0..AGENTS {
        execute(
            &client,
            "baton.task.start",
            json!({ "prompt": format!("Survey the helpers and take notes ({i})"), "uri": uri }),
            DEADLINE,
        )
        .await;
    }
    // All agents past `preparing` (polling the task list with a deadline), then taking turns.
    let deadline = Instant::now() + DEADLINE;
    let prepared = Instant::now();
    loop {
        let states = task_states(&client).await;
        if states.len() == AGENTS && states.iter().all(|s| s == "running") {
            break;
        }
        assert!(
            states.iter().all(|s| matches!(s.as_str(), "queued" | "preparing" | "running")),
            "an agent stopped early: {states:?}"
        );
        assert!(Instant::now() < deadline, "the agents did not all start: {states:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let prepared = prepared.elapsed();
    agent_model.wait_for_requests(2 * AGENTS, DEADLINE).await;

    let (turns0, inbox0) = (agent_model.requests().len(), client.inbox());
    let t = Instant::now();
    let busy = completion_round_trips(&client, &uri, &targets, &mut version, COMPLETIONS).await;
    let window = t.elapsed().as_secs_f64();
    let (turns1, inbox1) = (agent_model.requests().len(), client.inbox());
    let states = task_states(&client).await;
    let still = states.iter().filter(|s| *s == "running").count();
    assert_eq!(still, AGENTS, "every agent was still running at the end of the measurement: {states:?}");

    // What the agents' tool calls did, from their task logs.
    let (mut tool_lines, mut tool_errors, mut unsandboxed) = (0, Vec::new(), false);
    for id in 1..=AGENTS as i64 {
        let shown = execute(&client, "baton.task.show", json!({ "id": id }), DEADLINE).await;
        for line in shown["log"].as_array().into_iter().flatten().filter_map(|l| l["line"].as_str()) {
            tool_lines += usize::from(line.starts_with("[running] ") && !line.contains(" is working"));
            unsandboxed |= line.contains("without a sandbox");
            if line.contains(" failed: ") {
                tool_errors.push(line.to_owned());
            }
        }
    }
    assert!(tool_lines >= AGENTS, "the agents called tools");
    let report = |name: &str, v: &[f64]| {
        println!(
            "    {name}: p50 {:.2} ms, p99 {:.2} ms ({} requests)",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.len()
        );
    };
    report("0 agents running  ", &idle);
    report(&format!("{AGENTS} agents running "), &busy);
    println!(
        "    ratio of medians (10 agents / 0 agents): {:.2}; of p99s: {:.2}",
        percentile(&busy, 0.5) / percentile(&idle, 0.5),
        percentile(&busy, 0.99) / percentile(&idle, 0.99)
    );
    let tail = &inbox1[inbox0.len().min(inbox1.len())..];
    println!(
        "    during the {window:.1} s with agents: {} agent model turns ({:.0}/s, each followed by a tool call), \
         {} baton/tasks and {} $/progress notifications to the client; worktrees of the {AGENTS} tasks took {:.1} s to prepare",
        turns1 - turns0,
        (turns1 - turns0) as f64 / window,
        count_methods(tail, "baton/tasks"),
        count_methods(tail, "$/progress"),
        prepared.as_secs_f64()
    );
    println!(
        "    agents' tool steps logged: {tool_lines}, failed tool calls: {}{}; run_command {}",
        tool_errors.len(),
        tool_errors.first().map(|e| format!(" (first: {e})")).unwrap_or_default(),
        if unsandboxed { "ran WITHOUT the bwrap sandbox" } else { "ran in the bwrap sandbox" }
    );
    println!("    load average after: {}", load_average());
    let _ = client.shutdown().await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes.
    }
    // `cargo test --all-targets` (CI) runs harness=false benches too, without `--bench`; this one
    // takes minutes and writes 100,000-file checkouts, so it runs only under `cargo bench`.
    if !args.iter().any(|a| a == "--bench") {
        println!("orchestrator benchmark: skipped (run it with `cargo bench --bench orchestrator`)");
        return;
    }
    let rounds =
        args.iter().find_map(|a| a.strip_prefix("rounds=").and_then(|n| n.parse().ok())).unwrap_or(3usize).max(1);
    let only: Vec<&str> = args.iter().map(String::as_str).filter(|a| *a == "a" || *a == "b").collect();
    let started = Instant::now();
    println!(
        "orchestrator benchmark: {} CPU(s), baton {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        baton!().display()
    );
    // (b) first: (a) ends by deleting its checkouts (100,000 files each), which slows the disk.
    if only.is_empty() || only.contains(&"b") {
        completion_while_agents_run().await;
    }
    if only.is_empty() || only.contains(&"a") {
        dispatch_on_a_large_repository(rounds).await;
    }
    println!("total {:.0} s", started.elapsed().as_secs_f64());
}
