//! Git after the agent, through the real binary: hostile agents (scripts) that try to make the
//! git commands Baton runs after them execute their own commands, changes above the size
//! limits, links out of the tree, binary files and executable bits named to the reviewer, and
//! applying pull requests whose file names git would quote.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde_json::{Value, json};

use crate::tasks::{Repo, code_actions, command, no_model, repo, show, titles, wait_state};
use baton_test_support::baton;
use baton_test_support::client::{Client, rich_capabilities};
use baton_test_support::git::git;

/// Every object in the repository's store (loose and packed), from `git count-objects -v`.
fn object_count(repo: &Path) -> u64 {
    git(repo, &["count-objects", "-v"])
        .lines()
        .filter_map(|l| l.strip_prefix("count: ").or_else(|| l.strip_prefix("in-pack: ")))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum()
}

/// The marker a planted command would write: beside the agent scripts.
const MARK: &str = "M=\"$(dirname \"$0\")/MARKER\"\n";

fn marker(repo: &Repo) -> std::path::PathBuf {
    repo.tmp.path().join("MARKER")
}

async fn start(client: &Client, repo: &Repo, prompt: &str) -> i64 {
    let started = command(client, "baton.task.start", json!({ "prompt": prompt, "uri": repo.uri("lib.rs") })).await;
    started["result"]["id"].as_i64().unwrap_or_else(|| panic!("no id: {started}"))
}

fn error_of(details: &Value) -> String {
    details["task"]["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_agent_that_swaps_the_worktrees_git_for_its_own_repository_fails_with_nothing_run_or_committed() {
    let agent = format!(
        "{MARK}rm -f .git\ngit init -q .\ngit config core.fsmonitor \"touch '$M'\"\n\
         git config core.hooksPath hooks\nmkdir -p hooks\nprintf '#!/bin/sh\\ntouch \"%s\"\\n' \"$M\" > hooks/pre-commit\n\
         chmod +x hooks/pre-commit\necho 'fn two() {{}}' >> lib.rs\necho swapped\n"
    );
    // Unsandboxed: the sandbox already mounts `.git` read-only; this tests the git side's own check.
    let repo = repo(&[("swapper", &agent, "sandbox = false\n")], "[orchestrator]\ndefault_agent = \"swapper\"\n");
    let objects = object_count(&repo.root);
    let base = git(&repo.root, &["rev-parse", "HEAD"]);
    let client = repo.client(no_model()).await;
    let id = start(&client, &repo, "Add two").await;
    wait_state(&client, id, "failed").await;
    let details = show(&client, id).await;
    let error = error_of(&details);
    assert!(error.starts_with("the agent's work was not committed: the worktree "), "{error}");
    assert!(error.contains("has a changed .git (it is a directory; git wrote the file `gitdir: "), "{error}");
    assert!(error.ends_with("Baton runs no git command there"), "{error}");
    assert!(!marker(&repo).exists(), "the planted fsmonitor and hook never ran");
    let branch = details["task"]["branch"].as_str().expect("branch").to_owned();
    assert_eq!(git(&repo.root, &["rev-parse", &branch]), base, "nothing committed on the task branch");
    assert_eq!(object_count(&repo.root), objects, "nothing written into the user's object store");

    // Discarding removes the worktree without running git in it.
    let discarded = command(&client, "baton.pr.discard", json!({ "id": id })).await;
    assert!(discarded.get("error").is_none(), "{discarded}");
    let worktree = details["task"]["worktree"].as_str().expect("worktree");
    assert!(!Path::new(worktree).exists());
    assert!(!marker(&repo).exists());
}

#[tokio::test]
async fn hooks_an_agent_plants_never_run_when_baton_commits_or_merges() {
    // Into the repository's hooks folder and a relative hooks path (husky style) in the worktree.
    let mut agent = MARK.to_owned();
    agent.push_str("hooks=\"$(git rev-parse --git-common-dir)/hooks\"\nmkdir -p \"$hooks\" .husky\n");
    for hook in ["pre-commit", "post-commit", "commit-msg", "reference-transaction", "post-merge", "post-checkout"] {
        agent.push_str(&format!(
            "for d in \"$hooks\" .husky; do printf '#!/bin/sh\\ntouch \"%s\"\\n' \"$M\" > \"$d/{hook}\"; chmod +x \"$d/{hook}\"; done\n"
        ));
    }
    agent.push_str("git config core.hooksPath .husky\necho 'fn two() {}' >> lib.rs\necho planted\n");
    let repo = repo(&[("hooker", &agent, "")], "[orchestrator]\ndefault_agent = \"hooker\"\n");
    let client = repo.client(no_model()).await;
    let id = start(&client, &repo, "Add two").await;
    wait_state(&client, id, "ready").await;
    assert!(!marker(&repo).exists(), "no hook ran while Baton committed");
    let merged = command(&client, "baton.pr.merge", json!({ "id": id })).await;
    assert_eq!(merged["result"]["signedOffBy"], "Ada Lovelace <ada@example.com>", "{merged}");
    assert!(!marker(&repo).exists(), "no hook ran while Baton merged");
    assert!(repo.read("lib.rs").ends_with("fn two() {}\n"));
}

#[tokio::test]
async fn drivers_named_by_an_agents_gitattributes_and_its_ssh_command_never_run() {
    let agent = format!(
        "{MARK}printf '* filter=evil diff=evil merge=evil\\n' > .gitattributes\n\
         git config filter.evil.clean \"touch '$M'; cat\"\ngit config filter.evil.smudge \"touch '$M'; cat\"\n\
         git config filter.evil.required true\ngit config diff.evil.textconv \"touch '$M'; cat\"\n\
         git config diff.evil.command \"touch '$M'\"\ngit config merge.evil.driver \"touch '$M'; false\"\n\
         git config core.sshCommand \"touch '$M'\"\ngit remote add viassh ssh://127.0.0.1:9/x.git\n\
         sed -i 's|fn one() {{}}|fn one() {{ agent() }}|' lib.rs\necho drivers\n"
    );
    let toml = "[orchestrator]\ndefault_agent = \"drivers\"\ngithub_token_env = \"BATON_TEST_GITHUB_TOKEN\"\n\
                github_remote = \"viassh\"\ngithub_api_url = \"http://127.0.0.1:9\"\n";
    let repo = repo(&[("drivers", &agent, "")], toml);
    let data = repo.data.to_string_lossy().into_owned();
    let env = [("BATON_DATA_DIR", data.as_str()), ("BATON_TEST_GITHUB_TOKEN", "t0ken")];
    let client = Client::start_with(baton!(), rich_capabilities(), no_model(), &env, Some(&repo.root)).await;
    let uri = repo.uri("lib.rs");
    client.open(&uri, "rust", crate::tasks::LIB).await;
    let id = start(&client, &repo, "Change one").await;
    wait_state(&client, id, "ready").await;
    let details = show(&client, id).await;
    let log: Vec<&str> = details["log"].as_array().into_iter().flatten().filter_map(|l| l["line"].as_str()).collect();
    assert!(log.iter().any(|l| l.contains("could not open a GitHub pull request")), "the push failed: {log:#?}");
    // Review (diff), the merge prediction behind the code action titles, and the merge itself.
    let review = command(&client, "baton.pr.review", json!({ "id": id })).await;
    assert!(review.get("error").is_none(), "{review}");
    let offered = titles(&code_actions(&client, &uri, 0).await);
    assert!(offered.iter().any(|t| t.contains("Merge into main")), "{offered:#?}");
    let merged = command(&client, "baton.pr.merge", json!({ "id": id })).await;
    assert!(merged.get("error").is_none(), "{merged}");
    assert!(!marker(&repo).exists(), "no filter, diff driver, merge driver or ssh command ran");
}

#[tokio::test]
async fn a_200_mb_file_fails_the_task_before_anything_reaches_the_object_store() {
    let agent = "truncate -s 200000000 big.bin\necho 'fn two() {}' >> lib.rs\necho big\n";
    let repo = repo(&[("big", agent, "")], "[orchestrator]\ndefault_agent = \"big\"\n");
    let objects = object_count(&repo.root);
    let client = repo.client(no_model()).await;
    let id = start(&client, &repo, "Add two").await;
    wait_state(&client, id, "failed").await;
    let error = error_of(&show(&client, id).await);
    assert_eq!(
        error,
        "the agent's work was not committed: the agent's change is too large, nothing was committed: big.bin is \
         200.0 MB and the limit is 10.0 MB per file (orchestrator.max_file_bytes)"
    );
    assert_eq!(object_count(&repo.root), objects, "no object written into the user's repository");
}

#[tokio::test]
async fn links_out_of_the_tree_binary_files_and_executable_bits_are_named_and_not_applied() {
    let agent = "ln -s /etc/passwd passwd\nln -s ../../outside up\nln -s lib.rs inside\n\
                 printf 'PNG\\000\\001' > logo.png\nprintf '#!/bin/sh\\n' > run.sh\nchmod +x run.sh\n\
                 sed -i 's|fn one() {}|fn one() { agent() }|' lib.rs\necho shapes\n";
    let repo = repo(&[("shapes", agent, "")], "[orchestrator]\ndefault_agent = \"shapes\"\n");
    let client = repo.client(no_model()).await;
    let uri = repo.uri("lib.rs");
    client.open(&uri, "rust", crate::tasks::LIB).await;
    let id = start(&client, &repo, "Shapes").await;
    wait_state(&client, id, "ready").await;
    let description = show(&client, id).await["pullRequest"]["description"].as_str().unwrap_or_default().to_owned();
    expect_test::expect![[r#"
        shapes

        Baton notes (review with care):
        - binary file: logo.png
        - symbolic link pointing outside the repository: passwd -> /etc/passwd
        - executable bit set: run.sh
        - symbolic link pointing outside the repository: up -> ../../outside"#]]
    .assert_eq(&description);
    let offered = titles(&code_actions(&client, &uri, 0).await);
    let prefix =
        format!("Baton PR #{id} (+5 -1, checks none; outside link: passwd, up; binary: logo.png; exec bit: run.sh)");
    assert!(offered.contains(&format!("{prefix}: Apply to working tree")), "{offered:#?}");
    let refused = command(&client, "baton.pr.apply", json!({ "id": id })).await;
    assert_eq!(
        refused["error"]["message"],
        "refusing to apply: inside is a symbolic link, which an edit cannot create or change; nothing was applied (merge instead)",
        "{refused}"
    );
    assert!(!client.inbox().iter().any(|m| m["method"] == "workspace/applyEdit"), "no partial edit was sent");
}

/// Eleven names git quotes or a shell splits, as (name, in the base commit?).
const ODD: [(&str, bool); 11] = [
    ("back\\slash.txt", true),
    ("quo\"te.txt", true),
    ("tab\there.txt", true),
    ("new\nline.txt", true),
    ("with space.txt", true),
    ("-dash.txt", false),
    ("--double.txt", false),
    ("ünïcödé.txt", false),
    ("hash#and?query.txt", false),
    ("per%20cent.txt", false),
    ("sq'uote.txt", false),
];

fn sh_quote(name: &str) -> String {
    let mut out = String::from("\"$(printf 'X");
    for c in name.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("'\"'\"'"),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push_str("x')\"");
    // `X` keeps a leading dash from reading as an option and `x` keeps trailing newlines from
    // `$(...)`; both are cut again in the script.
    out
}

#[tokio::test]
async fn a_pull_request_with_eleven_oddly_named_files_applies_every_file_twice_then_merges() {
    let mut agent = String::new();
    for (name, _) in ODD {
        agent.push_str(&format!(
            "f={}; f=\"${{f#X}}\"; f=\"${{f%x}}\"; printf 'agent\\n' >> \"./$f\"\n",
            sh_quote(name)
        ));
    }
    agent.push_str("echo odd\n");
    let repo = repo(&[("odd", &agent, "")], "[orchestrator]\ndefault_agent = \"odd\"\n");
    for (name, in_base) in ODD {
        if in_base {
            std::fs::write(repo.root.join(name), "base\n").expect("write");
        }
    }
    git(&repo.root, &["add", "-A"]);
    git(&repo.root, &["commit", "-q", "-m", "odd names"]);
    let client = repo.client(no_model()).await;
    let id = start(&client, &repo, "Touch odd names").await;
    wait_state(&client, id, "ready").await;
    let files = show(&client, id).await["pullRequest"]["files"].clone();
    let mut paths: Vec<String> =
        files.as_array().into_iter().flatten().filter_map(|f| f["path"].as_str().map(str::to_owned)).collect();
    paths.sort();
    let mut names: Vec<String> = ODD.iter().map(|(n, _)| (*n).to_owned()).collect();
    names.sort();
    assert_eq!(paths, names, "every name exactly as git holds it");

    let uri_of = |name: &str| url::Url::from_file_path(repo.root.join(name)).expect("uri").to_string();
    for round in 1..=2 {
        // Round 2 is after the user undid the first apply (the test client never writes files).
        let applied = command(&client, "baton.pr.apply", json!({ "id": id })).await;
        assert_eq!(applied["result"], json!({ "applied": true, "files": 11 }), "round {round}: {applied}");
        let edits: Vec<Value> = client.inbox().into_iter().filter(|m| m["method"] == "workspace/applyEdit").collect();
        assert_eq!(edits.len(), round);
        let changes = edits[round - 1]["params"]["edit"]["documentChanges"].as_array().cloned().unwrap_or_default();
        for (name, in_base) in ODD {
            let uri = uri_of(name);
            let edit = changes
                .iter()
                .find(|c| c["textDocument"]["uri"] == uri)
                .unwrap_or_else(|| panic!("round {round}: no edit for {name:?} ({uri}) in {changes:#?}"));
            let new_text: String =
                edit["edits"].as_array().into_iter().flatten().filter_map(|e| e["newText"].as_str()).collect();
            assert_eq!(new_text, "agent\n", "{name:?}");
            assert_eq!(changes.iter().any(|c| c["kind"] == "create" && c["uri"] == uri), !in_base, "{name:?}");
        }
        assert_eq!(changes.len(), 11 + 6, "one edit per file and a create for each new one");
        let details = show(&client, id).await;
        assert_eq!(details["task"]["state"], "ready");
        assert_eq!(details["signoffs"].as_array().map(Vec::len), Some(round));
    }

    let merged = command(&client, "baton.pr.merge", json!({ "id": id })).await;
    assert!(merged.get("error").is_none(), "{merged}");
    for (name, in_base) in ODD {
        let want = if in_base { "base\nagent\n" } else { "agent\n" };
        assert_eq!(std::fs::read_to_string(repo.root.join(name)).expect("merged file"), want, "{name:?}");
    }
}

#[tokio::test]
async fn a_file_name_that_is_not_utf8_fails_apply_naming_it_and_merge_still_works() {
    let agent = "printf 'latin\\n' > \"$(printf 'caf\\351.txt')\"\necho 'fn two() {}' >> lib.rs\necho latin\n";
    let repo = repo(&[("latin", agent, "")], "[orchestrator]\ndefault_agent = \"latin\"\n");
    let client = repo.client(no_model()).await;
    let id = start(&client, &repo, "Latin name").await;
    wait_state(&client, id, "ready").await;
    let refused = command(&client, "baton.pr.apply", json!({ "id": id })).await;
    assert_eq!(
        refused["error"]["message"],
        "refusing to apply: caf\\xE9.txt has a name that is not UTF-8, which no editor URI can name; nothing was applied (merge instead)",
        "{refused}"
    );
    assert!(!client.inbox().iter().any(|m| m["method"] == "workspace/applyEdit"));
    assert_eq!(show(&client, id).await["task"]["state"], "ready");
    let merged = command(&client, "baton.pr.merge", json!({ "id": id })).await;
    assert!(merged.get("error").is_none(), "{merged}");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    assert_eq!(std::fs::read(repo.root.join(name)).expect("merged"), b"latin\n");
}
