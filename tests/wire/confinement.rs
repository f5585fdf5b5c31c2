//! Hostile agents against the sandbox profile, through the real binary with real bubblewrap and
//! real git: reading Baton's secrets, signalling it, writing outside the worktree, outliving a
//! `kill -9` of the server, and what the user is told each time. Also: a second server noticing
//! a dead one, the built-in agent's tool output redacted before the model sees it, secret files
//! kept out of completion prompts, agents refused where bubblewrap cannot run, and a task whose
//! failure cannot be written (a full disk) still ending `failed`.
//!
//! Fixtures live under Cargo's target tmp folder, not under /tmp (which the sandbox replaces), so
//! a leak would show on the real disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::{Client, TIMEOUT, rich_capabilities};
use baton_test_support::git::{git, git_repo};
use baton_test_support::model_server::{ModelServer, Reply};

const LIB: &str = "fn one() {}\n";
const FAKE_KEY: &str = "sk-fake-provider-0123456789abcdef";
const FAKE_SSH_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE-KEY-MATERIAL-42\n";

/// Skips (with a message) where bubblewrap cannot run.
#[allow(clippy::print_stderr, reason = "a skipped test says why")]
fn bwrap_works(test: &str) -> bool {
    let ok = Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED {test}: bwrap is missing or user namespaces are off (apt-get install bubblewrap)");
    }
    ok
}

/// A user's world: a home with a private key, the user's checkout (with an untracked `.env`),
/// another repository with its own `.env`, Baton's data directory, and a folder of agent scripts.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    repo: PathBuf,
    other: PathBuf,
    data: PathBuf,
    bin: PathBuf,
}

fn world() -> World {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    let (home, repo, other, data, bin) =
        (root.join("home"), root.join("repo"), root.join("other"), root.join("data"), root.join("bin"));
    for dir in [&home.join(".ssh"), &repo, &other, &bin] {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(home.join(".ssh/id_rsa"), FAKE_SSH_KEY).expect("key");
    std::fs::write(other.join(".env"), "OTHER_TOKEN=OTHER-REPO-SECRET\n").expect("other .env");
    let repo = git_repo(&repo, "Ada Lovelace", &[("lib.rs", LIB), (".gitignore", ".env\n")]);
    std::fs::write(repo.join(".env"), "USER_TOKEN=USER-CHECKOUT-SECRET\n").expect("user .env");
    World { _tmp: tmp, root, home, repo, other, data, bin }
}

impl World {
    /// Writes `baton.toml` into the checkout (uncommitted: the project config) with these
    /// agents: (name, script body, extra profile lines). Scripts get the prompt as `$1`.
    fn config(&self, agents: &[(&str, &str, &str)], orchestrator: &str) {
        let mut toml = format!("[orchestrator]\n{orchestrator}\n");
        for (name, body, extra) in agents {
            let script = self.bin.join(format!("{name}.sh"));
            std::fs::write(&script, body).expect("script");
            toml.push_str(&format!(
                "[[agents]]\nname = \"{name}\"\nkind = \"cli\"\ncommand = [\"sh\", \"{}\", \"{{prompt}}\"]\n\
                 read_only_paths = [\"{}\"]\ntime_limit_ms = 60000\n{extra}\n",
                script.display(),
                self.bin.display()
            ));
        }
        std::fs::write(self.repo.join("baton.toml"), toml).expect("toml");
        std::fs::write(self.repo.join(".git/info/exclude"), "baton.toml\n").expect("exclude");
    }

    async fn client(&self, extra_env: &[(&str, &str)]) -> Client {
        let (home, data, repo) =
            (self.home.display().to_string(), self.data.display().to_string(), self.repo.display().to_string());
        let mut env = vec![
            ("HOME", home.as_str()),
            ("BATON_DATA_DIR", data.as_str()),
            ("FAKE_PROVIDER_KEY", FAKE_KEY),
            // As if the editor had been started from the user's checkout.
            ("PWD", repo.as_str()),
        ];
        env.extend_from_slice(extra_env);
        Client::start_with(baton!(), rich_capabilities(), no_model(), &env, Some(&self.repo)).await
    }
}

/// A conductor pointed at a port nothing listens on, whose key is the fake secret.
fn no_model() -> Value {
    json!({ "provider": { "base_url": "http://127.0.0.1:9/v1", "max_retries": 0, "api_key_env": "FAKE_PROVIDER_KEY" } })
}

async fn command(client: &Client, command: &str, argument: Value) -> Value {
    client.request("workspace/executeCommand", json!({ "command": command, "arguments": [argument] })).await
}

async fn start(client: &Client, prompt: &str, agent: &str) -> i64 {
    let started = command(client, "baton.task.start", json!({ "prompt": prompt, "agent": agent })).await;
    started["result"]["id"].as_i64().unwrap_or_else(|| panic!("no task id: {started}"))
}

/// Waits for a `baton/tasks` notification showing task `id` in `state`; returns that task.
async fn wait_state(client: &Client, id: i64, state: &str) -> Value {
    let params = client
        .wait_for("baton/tasks", |p| {
            p["tasks"].as_array().is_some_and(|t| t.iter().any(|t| t["id"] == id && t["state"] == state))
        })
        .await["params"]
        .clone();
    params["tasks"].as_array().and_then(|t| t.iter().find(|t| t["id"] == id).cloned()).unwrap_or(Value::Null)
}

async fn show(client: &Client, id: i64) -> Value {
    command(client, "baton.task.show", json!({ "id": id })).await["result"].clone()
}

/// Host processes whose command line has the argument `marker`.
fn pids_with(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let zombie = stat.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            (!zombie && cmdline.split(|b| *b == 0).any(|arg| arg == marker.as_bytes())).then_some(pid)
        })
        .collect()
}

/// Waits (up to [`TIMEOUT`]) until `done` holds; fails with `what`.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Unique `sleep` durations to find a test's processes by, killed when the test ends however
/// it ends.
struct Markers(Vec<String>);

impl Markers {
    fn new(n: usize) -> Self {
        let base = 700_000 + (std::process::id() % 1000) * 100 + (rand_nanos() % 100);
        Markers((0..n).map(|i| format!("{}", base * 10 + i as u32)).collect())
    }
}

fn rand_nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}

impl Drop for Markers {
    fn drop(&mut self) {
        for marker in &self.0 {
            for pid in pids_with(marker) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).output();
            }
        }
    }
}

/// The lines of `report` between `== name` and the next `== ` line.
fn section(report: &str, name: &str) -> Vec<String> {
    format!("\n{report}")
        .split("\n== ")
        .find_map(|s| {
            let (title, rest) = s.split_once('\n').unwrap_or((s, ""));
            (title == name).then(|| rest.lines().map(str::to_owned).collect())
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_hostile_agent_cannot_read_secrets_signal_the_server_or_write_outside_its_worktree() {
    if !bwrap_works("a_hostile_agent_cannot_read_secrets_signal_the_server_or_write_outside_its_worktree") {
        return;
    }
    let w = world();
    let (home, repo, other, data) = (w.home.display(), w.repo.display(), w.other.display(), w.data.display());
    let hostile = format!(
        r#"pid="${{1#probe }}"
{{
echo "== env"; env | sort
echo "== environ"; cat "/proc/$pid/environ" 2>&1 | tr '\0' '\n'
echo "== processes"; ls /proc | grep -c '^[0-9]'
echo "== keys"; cat "$HOME/.ssh/id_rsa" 2>&1; cat "{home}/.ssh/id_rsa" 2>&1
echo "== signal"; if kill -0 "$pid" 2>/dev/null; then echo SIGNAL-DELIVERED; else echo signal-refused; fi
echo "== other repository"; cat "{other}/.env" 2>&1
echo "== user checkout"; cat "{repo}/.env" 2>&1; ls -A "{repo}" 2>&1
echo "== database"; ls -A "{data}" 2>&1
echo "== writes"
for target in "{repo}/pwned.txt" "{other}/pwned.txt" "{data}/pwned.txt" "{repo}/.git/config" .git; do
  if echo '[core] fsmonitor = "touch /tmp/owned"' >> "$target" 2>/dev/null; then echo "WROTE $target"; else echo "refused $target"; fi
done
echo "== net"; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '
echo "== pwd"; echo "$PWD"
}} > report.txt 2>&1
echo hi > "$PWD/pwd-proof.txt"
echo probed
"#
    );
    let check = format!(
        "echo '== net'; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; echo '== env'; env | sort; \
         echo pwned > {repo}/check-pwned.txt || echo check-write-refused"
    );
    w.config(
        &[("hostile", &hostile, "network = false")],
        &format!(
            "default_agent = \"hostile\"\ncheck_command = \"{}\"\nsetup_command = \"echo pwned > {repo}/setup-pwned.txt || true\"",
            check.replace('"', "\\\"")
        ),
    );
    let client = w.client(&[]).await;
    let pid = client.pid().expect("server pid");
    let id = start(&client, &format!("probe {pid}"), "hostile").await;
    let task = wait_state(&client, id, "ready").await;
    let details = show(&client, id).await;
    let branch = task["branch"].as_str().expect("branch").to_owned();
    let worktree = details["task"]["worktree"].as_str().expect("worktree").to_owned();
    let report = git(&w.repo, &["show", &format!("{branch}:report.txt")]);
    let report = report.as_str();

    // Baton's environment and its /proc entry: absent.
    assert!(!report.contains(FAKE_KEY), "the provider key leaked:\n{report}");
    let env = section(report, "env");
    let env_keys: Vec<&str> = env.iter().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    let allowed = ["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "USER", "LOGNAME", "TZ"];
    for key in &env_keys {
        let directory = ["PWD", "OLDPWD", "INIT_CWD", "TMPDIR"].contains(key);
        assert!(allowed.contains(key) || directory, "{key} reached the sandbox: {env_keys:?}");
    }
    assert!(env_keys.contains(&"HOME") && env_keys.contains(&"PATH"), "{env_keys:?}");
    assert!(section(report, "environ").concat().contains("No such file"), "{report}");
    // Only the sandbox's own few processes are visible, not Baton or anything else.
    let visible: usize = section(report, "processes").concat().trim().parse().expect("a count");
    assert!(visible < 10, "{visible} processes visible:\n{report}");
    // The private key, in the home Baton was given and by its absolute path: absent.
    assert!(!report.contains("FAKE-KEY-MATERIAL"), "the SSH key leaked:\n{report}");
    // The server cannot be signalled.
    assert_eq!(section(report, "signal"), ["signal-refused"], "{report}");
    // Other repositories and the user's checkout show nothing, the database neither.
    assert!(!report.contains("OTHER-REPO-SECRET") && !report.contains("USER-CHECKOUT-SECRET"), "{report}");
    assert!(!section(report, "user checkout").iter().any(|l| l.contains("lib.rs")), "{report}");
    assert!(!report.contains("baton.db"), "{report}");
    // Every write outside the worktree was refused, and nothing reached the disk.
    let writes = section(report, "writes");
    assert_eq!(writes.iter().filter(|l| l.starts_with("refused ")).count(), 5, "{report}");
    assert!(!writes.iter().any(|l| l.starts_with("WROTE")), "{report}");
    // What the agent is told: the checkout, the data directory and git are read-only; the
    // other repository does not exist in its world.
    assert_eq!(writes.iter().filter(|l| l.ends_with("Read-only file system")).count(), 4, "{report}");
    assert!(writes.iter().any(|l| l.ends_with("other/pwned.txt: Directory nonexistent")), "{report}");
    for path in [w.repo.join("pwned.txt"), w.other.join("pwned.txt"), w.data.join("pwned.txt")] {
        assert!(!path.exists(), "{} was written", path.display());
    }
    assert!(!std::fs::read_to_string(w.repo.join(".git/config")).expect("config").contains("fsmonitor"));
    assert!(std::fs::read_to_string(Path::new(&worktree).join(".git")).expect(".git").starts_with("gitdir: "));
    // No network but a private loopback.
    assert_eq!(section(report, "net"), ["lo"], "{report}");
    // `PWD` names the worktree, so a tool trusting it writes there, not in the user's checkout.
    assert_eq!(section(report, "pwd"), [worktree.as_str()], "{report}");
    let files = details["pullRequest"]["files"].as_array().expect("files").clone();
    assert!(files.iter().any(|f| f["path"] == "pwd-proof.txt"), "{files:?}");
    assert!(!w.repo.join("pwd-proof.txt").exists(), "the agent wrote into the user's checkout");

    // Setup and checks run the agent's code: confined the same way, without the network.
    assert!(!w.repo.join("setup-pwned.txt").exists() && !w.repo.join("check-pwned.txt").exists());
    let check_output = details["pullRequest"]["checkOutput"].as_str().expect("check output");
    assert_eq!(section(&format!("\n{check_output}"), "net"), ["lo"], "{check_output}");
    assert!(check_output.contains("check-write-refused"), "{check_output}");
    assert!(!check_output.contains(FAKE_KEY), "{check_output}");
}

#[tokio::test]
async fn kill_9_of_the_server_takes_its_agent_and_grandchild_down_and_a_restart_interrupts_the_task() {
    if !bwrap_works("kill_9_of_the_server_takes_its_agent_and_grandchild_down_and_a_restart_interrupts_the_task") {
        return;
    }
    let w = world();
    let m = Markers::new(2);
    let agent = format!("sleep {} &\nexec sleep {}\n", m.0[0], m.0[1]);
    w.config(&[("slow", &agent, "")], "default_agent = \"slow\"");
    let client = w.client(&[]).await;
    let id = start(&client, "hang around", "slow").await;
    wait_state(&client, id, "running").await;
    wait_until("the agent and its grandchild run", || m.0.iter().all(|x| !pids_with(x).is_empty())).await;
    client.kill().await;
    wait_until("the agent and its grandchild are gone", || m.0.iter().all(|x| pids_with(x).is_empty())).await;

    let client = w.client(&[]).await;
    let task = wait_state(&client, id, "interrupted").await;
    assert_eq!(task["state"], "interrupted");
    let log = show(&client, id).await["log"].to_string();
    assert!(log.contains("interrupted: the server running this task stopped"), "{log}");
}

#[tokio::test]
async fn an_unsandboxed_agent_dies_with_the_server_and_resume_waits_for_what_escaped_it() {
    let w = world();
    let m = Markers::new(3);
    let resumed = w.root.join("resumed");
    let agent = format!(
        "if [ -f {} ]; then echo hi > \"$PWD/pwd-proof.txt\"; echo resumed; exit 0; fi\n\
         sleep {} &\nsetsid sleep {} &\nexec sleep {}\n",
        resumed.display(),
        m.0[0],
        m.0[1],
        m.0[2]
    );
    w.config(&[("loose", &agent, "sandbox = false")], "default_agent = \"loose\"");
    let client = w.client(&[]).await;
    let id = start(&client, "hang around", "loose").await;
    wait_state(&client, id, "running").await;
    wait_until("the agent and its children run", || m.0.iter().all(|x| !pids_with(x).is_empty())).await;
    let escaped = pids_with(&m.0[1]);
    client.kill().await;
    // The supervisor kills the agent's process group; what left the group (setsid) stays.
    wait_until("the agent and its grandchild are gone", || {
        pids_with(&m.0[0]).is_empty() && pids_with(&m.0[2]).is_empty()
    })
    .await;
    assert_eq!(pids_with(&m.0[1]), escaped, "the escaped process still runs");

    let client = w.client(&[]).await;
    wait_state(&client, id, "interrupted").await;
    let refused = command(&client, "baton.task.resume", json!({ "id": id })).await;
    let message = refused["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("still running in its worktree"), "{refused}");
    assert!(message.contains(&format!("sleep (pid {})", escaped[0])), "{message}");
    assert_eq!(show(&client, id).await["task"]["state"], "interrupted");

    for pid in &escaped {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).output();
    }
    wait_until("the escaped process is gone", || pids_with(&m.0[1]).is_empty()).await;
    std::fs::write(&resumed, "").expect("marker");
    let resumed = command(&client, "baton.task.resume", json!({ "id": id })).await;
    assert!(resumed.get("error").is_none(), "{resumed}");
    wait_state(&client, id, "ready").await;
    // Unsandboxed, `PWD` is what keeps a tool that trusts it out of the user's checkout.
    let files = show(&client, id).await["pullRequest"]["files"].clone();
    assert_eq!(files[0]["path"], "pwd-proof.txt", "{files}");
    assert!(!w.repo.join("pwd-proof.txt").exists(), "the agent wrote into the user's checkout");
}

#[tokio::test]
async fn a_second_server_marks_a_dead_servers_task_interrupted_without_restarting() {
    if !bwrap_works("a_second_server_marks_a_dead_servers_task_interrupted_without_restarting") {
        return;
    }
    let w = world();
    let m = Markers::new(1);
    w.config(&[("slow", &format!("exec sleep {}\n", m.0[0]), "")], "default_agent = \"slow\"");
    let first = w.client(&[]).await;
    let second = w.client(&[]).await;
    let id = start(&first, "hang around", "slow").await;
    wait_state(&second, id, "running").await;
    first.kill().await;
    // The second server's recovery poll (every 2 s) finds the dead owner.
    let task = wait_state(&second, id, "interrupted").await;
    assert_eq!(task["state"], "interrupted");
    wait_until("the agent is gone", || pids_with(&m.0[0]).is_empty()).await;
}

#[tokio::test]
async fn a_key_a_command_prints_is_redacted_before_the_model_reads_it() {
    let model = ModelServer::start().await;
    // The command prints a key it found in the repository; the model never saw it before.
    model.push(Reply::ToolCalls(vec![
        ("run_command".to_owned(), json!({ "command": "cat settings.ini; echo ok > done.txt" })),
        ("read_file".to_owned(), json!({ "path": ".env" })),
    ]));
    model.push(Reply::text("Done."));
    let w = world();
    std::fs::write(w.repo.join("settings.ini"), format!("the key is {FAKE_KEY}\n")).expect("write");
    git(&w.repo, &["add", "settings.ini"]);
    git(&w.repo, &["commit", "-q", "-m", "settings"]);
    std::fs::write(w.repo.join(".worktreeinclude"), ".env\n").expect("include");
    let options = json!({
        "provider": { "kind": "openai", "base_url": format!("{}/v1", model.base_url()), "model": "m",
            "max_retries": 0, "timeout_ms": 5000, "api_key_env": "FAKE_PROVIDER_KEY" },
    });
    let (home, data) = (w.home.display().to_string(), w.data.display().to_string());
    let env = [("HOME", home.as_str()), ("BATON_DATA_DIR", data.as_str()), ("FAKE_PROVIDER_KEY", FAKE_KEY)];
    let client = Client::start_with(baton!(), rich_capabilities(), options, &env, Some(&w.repo)).await;
    let id = start(&client, "Print the key", "builtin").await;
    let task = wait_state(&client, id, "ready").await;
    assert_eq!(task["state"], "ready");
    let turns: Vec<_> = model.requests().into_iter().filter(|r| r.path == "/v1/chat/completions").collect();
    assert_eq!(turns.len(), 2, "{turns:?}");
    // The key authenticates Baton to the model, and never appears in what the model reads.
    assert_eq!(turns[1].header("authorization"), Some(format!("Bearer {FAKE_KEY}").as_str()));
    let body = turns[1].body.to_string();
    assert!(!body.contains(FAKE_KEY), "the key reached the model: {body}");
    assert!(body.contains("the key is [redacted FAKE_PROVIDER_KEY]"), "{body}");
    // A secret file is not read to the model at all.
    assert!(!body.contains("USER-CHECKOUT-SECRET"), "{body}");
    assert!(body.contains(".env matches the secret file patterns"), "{body}");
}

#[tokio::test]
async fn a_secret_file_open_in_the_editor_never_reaches_a_completion_prompt() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("done"));
    let client =
        Client::start(baton!(), rich_capabilities(), baton_test_support::openai_options(&model.base_url())).await;
    let (env, notes, other) = ("file:///w/.env", "file:///w/notes.txt", "file:///w/todo.txt");
    client.open(env, "plaintext", "Remember API_TOKEN=ENV-FILE-SECRET-99\n").await;
    // Context is ranked by similarity to the text before the cursor: share a word with it.
    client.open(other, "plaintext", "Remember OTHER-DOCUMENT-CONTEXT\n").await;
    client.open(notes, "plaintext", "Remember to \n").await;
    let items = client.inline(notes, 0, 12, true).await;
    assert_eq!(items, ["done"]);
    let prompt = model.requests().last().map(|r| r.body.to_string()).unwrap_or_default();
    // Other open documents of the language are context; the secret file is not.
    assert!(prompt.contains("OTHER-DOCUMENT-CONTEXT"), "{prompt}");
    assert!(!prompt.contains("ENV-FILE-SECRET-99"), "{prompt}");
    // With the cursor in the secret file, no model is asked.
    let before = model.requests().len();
    assert!(client.inline(env, 0, 10, true).await.is_empty());
    assert_eq!(model.requests().len(), before, "a model was asked inside .env");
    // A model edit of it is refused with the reason.
    let edit = command(
        &client,
        "baton.edit",
        json!({ "uri": env, "range": baton_test_support::client::range((0, 0), (1, 0)), "instruction": "x" }),
    )
    .await;
    assert!(edit["error"]["message"].as_str().unwrap_or_default().contains("secret file patterns"), "{edit}");
    assert_eq!(model.requests().len(), before);
}

#[tokio::test]
async fn without_bubblewrap_agents_are_refused_unless_the_profile_opts_out() {
    let w = world();
    // A PATH with every program of this machine but bwrap.
    let path = w.root.join("path");
    std::fs::create_dir_all(&path).expect("mkdir");
    for dir in ["/usr/local/bin", "/usr/bin", "/bin"] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let link = path.join(entry.file_name());
            if entry.file_name() != "bwrap" && !link.exists() {
                let _ = std::os::unix::fs::symlink(entry.path(), link);
            }
        }
    }
    let edit = "echo 'fn two() {}' >> lib.rs\necho edited\n";
    w.config(&[("boxed", edit, ""), ("loose", edit, "sandbox = false")], "default_agent = \"boxed\"");
    let client = w.client(&[("PATH", &path.display().to_string())]).await;
    let health = client.request("baton/health", Value::Null).await;
    assert_eq!(health["result"]["sandbox"]["available"], false, "{health}");
    let said = health["result"]["sandbox"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(said.contains("bwrap is not installed") && said.contains("sandbox = false"), "{said}");

    let refused = start(&client, "Add two", "boxed").await;
    let task = wait_state(&client, refused, "failed").await;
    let message = task["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("the sandbox cannot run here: bwrap is not installed"), "{message}");
    assert!(message.contains("sandbox = false") && message.contains("\"boxed\""), "{message}");
    assert_eq!(w.repo.join("lib.rs").metadata().map(|m| m.len()).ok(), Some(LIB.len() as u64));

    let ran = start(&client, "Add two", "loose").await;
    wait_state(&client, ran, "ready").await;
    let log = show(&client, ran).await["log"].to_string();
    assert!(log.contains("running without a sandbox"), "{log}");
}

#[tokio::test]
async fn a_failure_that_cannot_be_written_to_a_full_disk_ends_failed_once_there_is_room() {
    // The data directory is a small tmpfs in a private mount namespace of the server.
    let unshare_works = Command::new("unshare").args(["-rm", "true"]).output().is_ok_and(|o| o.status.success());
    if !unshare_works || !bwrap_works("a_failure_that_cannot_be_written_to_a_full_disk_ends_failed_once_there_is_room")
    {
        #[allow(clippy::print_stderr, reason = "a skipped test says why")]
        {
            eprintln!("SKIPPED a_failure_that_cannot_be_written...: `unshare -rm` cannot make a mount namespace here");
        }
        return;
    }
    let w = world();
    std::fs::create_dir_all(&w.data).expect("data");
    // The agent fills the disk from its worktree (which lives on that tmpfs), then exits.
    let fill = "dd if=/dev/zero of=fill.bin bs=64k count=1000 2>/dev/null; echo filled\n";
    w.config(&[("filler", fill, "")], "default_agent = \"filler\"");
    let mount = format!("mount -t tmpfs -o size=6m tmpfs '{}' && exec \"$0\" \"$@\"", w.data.display());
    let wrapper: Vec<String> = ["unshare", "-rm", "sh", "-c", &mount].map(str::to_owned).to_vec();
    let (home, data, repo) = (w.home.display().to_string(), w.data.display().to_string(), w.repo.display().to_string());
    let env = [("HOME", home.as_str()), ("BATON_DATA_DIR", data.as_str()), ("PWD", repo.as_str())];
    let client = Client::start_wrapped(&wrapper, baton!(), rich_capabilities(), no_model(), &env, Some(&w.repo)).await;
    let id = start(&client, "Fill the disk", "filler").await;

    // Told at once, although the database cannot take the failure yet.
    let token = json!(format!("baton/task/{id}"));
    let end = client.wait_for("$/progress", |p| p["token"] == token && p["value"]["kind"] == "end").await;
    let told = end["params"]["value"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(told.starts_with("failed: "), "{told}");
    assert!(told.contains("not saved yet: disk full"), "{told}");
    let shown = show(&client, id).await["task"].clone();
    assert_eq!(shown["state"], "failed", "{shown}");
    assert!(shown["error"].as_str().unwrap_or_default().ends_with("(not saved yet; Baton keeps trying)"), "{shown}");

    // Room again (the test reaches the server's tmpfs through its /proc root): the next
    // recovery poll writes the failure.
    let pid = client.pid().expect("pid");
    let in_ns = |p: &Path| PathBuf::from(format!("/proc/{pid}/root{}", p.display()));
    let worktrees = in_ns(&w.data.join("worktrees"));
    let mut freed = false;
    for repo_dir in std::fs::read_dir(&worktrees).expect("worktrees").flatten() {
        for task_dir in std::fs::read_dir(repo_dir.path()).expect("task dirs").flatten() {
            freed |= std::fs::remove_file(task_dir.path().join("fill.bin")).is_ok();
        }
    }
    assert!(freed, "the fill file was not found");
    // Until then every view shows the task failed, and says the failure is not saved yet.
    let deadline = std::time::Instant::now() + TIMEOUT;
    let details = loop {
        let details = show(&client, id).await;
        assert_eq!(details["task"]["state"], "failed", "{details}");
        if !details["task"]["error"].as_str().unwrap_or_default().contains("not saved yet") {
            break details;
        }
        assert!(std::time::Instant::now() < deadline, "the failure was never recorded: {details}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The error is the first write that failed: the database's or git's.
    let error = details["task"]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("disk is full") || error.contains("No space left on device"), "{error}");
}

#[tokio::test]
async fn baton_complete_refuses_a_secret_file_without_asking_a_model() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("leaked"));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("baton.toml"), format!("[provider]\nbase_url = \"{}/v1\"\n", model.base_url()))
        .expect("write");
    let file = dir.path().join("server.pem");
    std::fs::write(&file, "-----BEGIN PRIVATE KEY-----\nPEM-SECRET\n").expect("write");
    let location = format!("{}:2:3", file.display());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(baton!())
            .env("BATON_CONFIG", "/nonexistent/baton-config.toml")
            .args(["complete", &location])
            .output()
    })
    .await
    .expect("join")
    .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("server.pem matches the secret file patterns"), "{said}");
    assert!(model.requests().iter().all(|r| r.path != "/v1/completions"), "a model was asked");
}
