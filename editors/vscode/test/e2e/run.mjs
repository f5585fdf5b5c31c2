// End-to-end test of the Baton extension in real VS Code: code-server (the VS Code workbench)
// in Debian's Chromium, driven by playwright-core, with the packaged VSIX installed, the real
// `baton` binary and the scripted model server. Prints one `ok`/`FAIL` line per check and
// `N passed, M failed` last; exits non-zero on failure.
//
// Environment (test.sh sets them): BATON_BIN, MODEL_BIN, VSIX, CODE_SERVER (its bin script),
// PLAYWRIGHT_CORE (the playwright-core package dir), CHROMIUM (default /usr/bin/chromium),
// BATON_E2E_KEEP=1 keeps the temp dir (screenshots, logs) for a look afterwards;
// BATON_E2E_ONLY=REGEX runs only the checks whose names match (setup always runs; later checks
// may rely on what earlier ones did).
// BATON_E2E_MODEL_URL (a real model's server, e.g. llama-server on 127.0.0.1; scripts/
// e2e-real-model.sh sets it) runs the real-model check instead: next edits the model predicts.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BATON_BIN = env('BATON_BIN');
const MODEL_BIN = env('MODEL_BIN');
const VSIX = env('VSIX');
const CODE_SERVER = env('CODE_SERVER');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const REAL_MODEL_URL = process.env.BATON_E2E_MODEL_URL;
const REAL_MODEL = process.env.BATON_E2E_MODEL ?? 'qwen2.5-coder-0.5b';
const { chromium } = createRequire(import.meta.url)(env('PLAYWRIGHT_CORE'));

const started = Date.now();
const log = (m) => process.stderr.write(`[vscode-e2e +${((Date.now() - started) / 1000).toFixed(1)}s] ${m}\n`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-vscode-e2e-'));
const children = [];
let passed = 0;
let failed = 0;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
async function waitFor(what, check, timeoutMs = 20000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Starts a process in its own process group, so stopping it stops its children too. */
function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.push(child);
  return child;
}

/** Stops every process group this test started: SIGTERM, then SIGKILL after 5 s. */
async function stopAll() {
  const alive = (c) => c.exitCode === null && c.signalCode === null;
  const signal = (c, sig) => {
    try {
      process.kill(-c.pid, sig);
    } catch {
      // The group is gone already.
    }
  };
  const running = children.filter(alive);
  running.forEach((c) => signal(c, 'SIGTERM'));
  await Promise.all(
    running.map(
      (c) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => {
            signal(c, 'SIGKILL');
            resolve();
          }, 5000);
          c.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
        }),
    ),
  );
}

const git = (cwd, ...args) => execFileSync('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

// --- The project: a git repository with a scripted agent ---------------------------------------
const repo = path.join(tmp, 'project');
const dataDir = path.join(tmp, 'baton-data');
const xdgConfig = path.join(tmp, 'xdg-config');
const xdgData = path.join(tmp, 'xdg-data');
for (const d of [repo, dataDir, xdgConfig, xdgData]) fs.mkdirSync(d, { recursive: true });
const agent = path.join(tmp, 'agent.sh');
fs.writeFileSync(
  agent,
  `case "$1" in\n*added*) printf 'pub fn added() {}\\n' >> lib.rs; printf 'pub fn more() {}\\n' > added.rs; echo "Added fn added" ;;\n*) sed -i 's/"hello"/"hello, world"/' lib.rs; echo "Greet the whole world" ;;\nesac\n`,
);
fs.writeFileSync(
  path.join(repo, 'baton.toml'),
  `[[agents]]\nname = "scripted"\nkind = "cli"\ncommand = ["sh", ${JSON.stringify(agent)}, "{prompt}"]\nread_only_paths = [${JSON.stringify(tmp)}]\n\n` +
    // A second profile, for the check that picks an agent other than the default.
    `[[agents]]\nname = "second"\nkind = "cli"\ncommand = ["sh", ${JSON.stringify(agent)}, "{prompt}"]\nread_only_paths = [${JSON.stringify(tmp)}]\n\n` +
    `[orchestrator]\ndefault_agent = "scripted"\n`,
);
fs.writeFileSync(path.join(repo, 'lib.rs'), 'pub fn greet() -> &\'static str {\n    "hello"\n}\n');
const MAIN_RS = 'fn main() {\n    println!("{}", add(1, 2));\n}\n\nfn add(a: i32, b: i32) -> i32 {\n    ';
fs.writeFileSync(path.join(repo, 'main.rs'), MAIN_RS);
const EDIT_RS = 'fn triple(x: i32) -> i32 {\n    x * 3\n}\n';
fs.writeFileSync(path.join(repo, 'edit.rs'), EDIT_RS);
// Ends inside a class body at the method's indentation: the test types the signature.
fs.writeFileSync(path.join(repo, 'store.py'), 'class Store:\n    data = {}\n\n    ');
// A parameter used twice in the body: renaming it predicts both uses (structurally, no model).
const RENAME_PY = 'def scale(value, factor):\n    return value * factor + value\n';
fs.writeFileSync(path.join(repo, 'rename.py'), RENAME_PY);
// An edit no structural prediction follows (a call appended to one assignment): the real model's.
const CONTACT_PY = 'class Contact:\n    def __init__(self, name, email, city):\n        self.name = name\n        self.email = email\n        self.city = city\n';
fs.writeFileSync(path.join(repo, 'contact.py'), CONTACT_PY);
git(repo, 'init', '-q', '-b', 'main');
git(repo, 'config', 'user.name', 'Baton Test');
git(repo, 'config', 'user.email', 'test@baton.invalid');
git(repo, 'add', '.');
git(repo, 'commit', '-q', '-m', 'initial');

const childEnv = {
  ...process.env,
  BATON_DATA_DIR: dataDir,
  XDG_CONFIG_HOME: xdgConfig,
  XDG_DATA_HOME: xdgData,
  BATON_CONFIG: path.join(tmp, 'no-user-config.toml'),
};

async function main() {
  // --- The scripted model ----------------------------------------------------------------------
  const REPLY = 'a + b';
  const requestsLog = path.join(tmp, 'model-requests.jsonl');
  fs.writeFileSync(requestsLog, '');
  // Alternatives (Alt+], the completions panel) are asked at hotter temperatures: each of the
  // first two gets its own text, so the suggestions differ.
  const model = start(MODEL_BIN, ['--reply', REPLY, '--reply-at', `0.6=${ALT_REPLIES[0]}`, '--reply-at', `0.8=${ALT_REPLIES[1]}`, '--requests-log', requestsLog]);
  const modelUrl = await new Promise((resolve, reject) => {
    readline.createInterface({ input: model.stdout }).once('line', resolve);
    model.once('exit', (code) => reject(new Error(`scripted model exited (${code})`)));
  });
  log(`scripted model at ${modelUrl}`);
  // A second model whose suggestion is a method's signature end and body, for the auto-closed
  // bracket check (the settings are switched to it there).
  const bodyModel = start(MODEL_BIN, ['--reply', ') -> bool:\\n        return key in self.data']);
  const bodyModelUrl = await new Promise((resolve, reject) => {
    readline.createInterface({ input: bodyModel.stdout }).once('line', resolve);
    bodyModel.once('exit', (code) => reject(new Error(`second scripted model exited (${code})`)));
  });

  // --- A ready pull request, made from the shell with the same data directory ------------------
  const t0 = Date.now();
  const made = execFileSync(BATON_BIN, ['task', 'start', 'Greet the whole world', '--repo', repo], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60000,
  }).toString();
  log(`ready pull request in ${Date.now() - t0} ms: ${made.split('\n')[0]}`);

  // --- code-server with the VSIX ---------------------------------------------------------------
  const port = await freePort();
  const userData = path.join(tmp, 'user-data');
  const extDir = path.join(tmp, 'extensions');
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.mkdirSync(path.join(userData, 'Machine'), { recursive: true });
  const config = path.join(tmp, 'code-server.yaml');
  fs.writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  // The server's log goes to a file as well as the Baton output channel: a wrapper is the
  // serverPath, and it runs the real binary.
  const serverLog = path.join(tmp, 'baton.log');
  const wrapper = path.join(tmp, 'baton-wrapper.sh');
  // stderr goes both to the file and on to the extension (its output channel labels the levels);
  // stdout stays the LSP stream.
  fs.writeFileSync(
    wrapper,
    `#!/bin/sh\n{ ${JSON.stringify(BATON_BIN)} "$@" 2>&1 1>&3 3>&- | tee -a ${JSON.stringify(serverLog)} >&2; } 3>&1\n`,
    { mode: 0o755 },
  );
  // The editor's defaults otherwise: auto-closing brackets and quotes stay on, as a user has them.
  const userSettings = {
    'security.workspace.trust.enabled': false,
    'workbench.startupEditor': 'none',
    'remote.autoForwardPorts': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'update.mode': 'none',
    'workbench.tips.enabled': false,
    'editor.quickSuggestions': { other: false, comments: false, strings: false },
    'editor.suggestOnTriggerCharacters': false,
    'editor.wordBasedSuggestions': 'off',
    'editor.inlineSuggest.enabled': true,
    'files.autoSave': 'off',
    'editor.formatOnSave': false,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'chat.disableAIFeatures': true,
    'workbench.editor.useModal': 'off',
    // Baton's settings, as a user would set them: they reach the server as
    // initializationOptions (nothing else tells it where the model is).
    'baton.provider.base_url': `${modelUrl}/v1`,
    'baton.provider.max_retries': 0,
    'baton.completion.debounce_ms': 10,
    // Next edits from the structure only: the scripted model's one reply is no rewrite.
    'baton.nes.model_predictions': false,
  };
  if (REAL_MODEL_URL) {
    // The real model's next edits only: no structural ones, no inline completion sharing its slot.
    Object.assign(userSettings, {
      'baton.provider.base_url': `${REAL_MODEL_URL}/v1`,
      'baton.provider.model': REAL_MODEL,
      'baton.provider.timeout_ms': 120000,
      'baton.completion.enabled': false,
      'baton.nes.model_predictions': true,
      'baton.nes.structural_predictions': false,
      'baton.nes.model_prompt': 'analogy',
    });
  }
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify(userSettings, null, 2));
  // baton.serverPath is machine-scoped: code-server is a remote window, whose machine settings
  // live apart from the user's.
  fs.writeFileSync(path.join(userData, 'Machine', 'settings.json'), JSON.stringify({ 'baton.serverPath': wrapper }, null, 2));
  const csArgs = ['--config', config, '--user-data-dir', userData, '--extensions-dir', extDir, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust'];
  const t1 = Date.now();
  execFileSync(CODE_SERVER, [...csArgs, '--install-extension', VSIX], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
  log(`installed the VSIX in ${Date.now() - t1} ms`);
  const cs = start(CODE_SERVER, [...csArgs, repo], { env: childEnv });
  const csLog = fs.createWriteStream(path.join(tmp, 'code-server.log'));
  cs.stdout.pipe(csLog);
  cs.stderr.pipe(csLog);
  const base = `http://127.0.0.1:${port}`;
  await waitFor('code-server /healthz', async () => (await fetch(`${base}/healthz`)).ok, 60000, 200);
  log('code-server is up');

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${base}/?folder=${encodeURIComponent(repo)}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
    log('workbench loaded');
    if (REAL_MODEL_URL) await runRealModel(page, repo, serverLog);
    else await run(page, repo, serverLog, userData, requestsLog, { userSettings, bodyModelUrl });
  } finally {
    await browser.close().catch(() => undefined);
  }
}

/** The scripted model's answers at the alternatives' temperatures 0.6 and 0.8. */
const ALT_REPLIES = ['b + a', 'a.wrapping_add(b)'];

const statusText = (page) => page.locator('.statusbar-item').allInnerTexts().then((t) => t.map((s) => s.replace(/\u00a0/g, ' ')).find((s) => s.includes('Baton:')) ?? '');
const viewText = (page) => page.locator('.view-line').allInnerTexts().then((t) => t.map((s) => s.replace(/\u00a0/g, ' ')).join('\n'));

async function openFile(page, name) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(name);
  const rows = page.locator('.quick-input-list .monaco-list-row');
  await waitFor(`quick open to list ${name} first`, async () => (await rows.count()) > 0 && (await rows.first().innerText()).includes(name), 10000);
  await page.keyboard.press('Enter');
  await waitFor(`the editor tab for ${name}`, async () => (await page.locator('.tabs-container .tab.active', { hasText: name }).count()) > 0, 10000);
  await page.locator('.monaco-editor .view-lines').first().click();
}

/** Runs a command from the command palette (F1) by its title. */
async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(`>${title}`);
  const rows = page.locator('.quick-input-list .monaco-list-row');
  await waitFor(`the command ${title}`, async () => (await rows.count()) > 0 && (await rows.first().innerText()).includes(title), 10000);
  await page.keyboard.press('Enter');
}

/** The rows of the open quick pick, as text. */
const quickRows = (page) => page.locator('.quick-input-widget .quick-input-list .monaco-list-row');

/** Waits until the quick pick lists a row including each of `texts`. */
async function waitForRows(page, what, texts, timeoutMs) {
  await waitFor(what, async () => {
    const t = (await quickRows(page).allInnerTexts()).join('|');
    return texts.every((x) => t.includes(x));
  }, timeoutMs);
}

/** Picks the quick pick row whose text includes `text` (spaces may render as no-break spaces).
 * The locator is resolved when clicking, so a list that re-renders meanwhile is not clicked
 * by a stale index. */
async function pickRow(page, text, timeoutMs = 10000) {
  const pattern = new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '[ \u00a0]'));
  const row = quickRows(page).filter({ hasText: pattern }).first();
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  await row.click();
}

/** Opens the code actions at the cursor (Ctrl+.) and clicks the one whose title matches `re`. */
async function pickCodeAction(page, re) {
  const rows = page.locator('.action-widget .monaco-list-row');
  const row = await waitFor(`a code action matching ${re}`, async () => {
    if ((await rows.count()) === 0) {
      await page.keyboard.press('Control+.');
      await rows.first().waitFor({ state: 'visible', timeout: 3000 });
    }
    const titles = (await rows.allInnerTexts()).map((t) => t.replace(/\u00a0/g, ' '));
    const i = titles.findIndex((t) => re.test(t));
    if (i < 0) {
      log(`code actions: ${JSON.stringify(titles)}`);
      await page.keyboard.press('Escape');
      return false;
    }
    return rows.nth(i);
  }, 20000, 500);
  await row.click();
}

const chatRequests = (requestsLog) =>
  fs.readFileSync(requestsLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.path === '/v1/chat/completions');

const only = process.env.BATON_E2E_ONLY ? new RegExp(process.env.BATON_E2E_ONLY) : undefined;

async function check(page, name, fn) {
  if (only && !only.test(name)) return;
  const t = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    failed++;
    const shot = path.join(tmp, `${name.replace(/\W+/g, '-')}.png`);
    await page.screenshot({ path: shot }).catch(() => undefined);
    console.log(`FAIL ${name}: ${e.message}`);
    console.log(`     screenshot: ${shot}; status bar: ${JSON.stringify(await statusText(page).catch(() => '?'))}`);
    process.env.BATON_E2E_KEEP = '1';
  }
}

/** The main model's usual suggestion, as ghost text shows it. */
const REPLY_SHOWN = 'a + b';

async function run(page, repo, serverLog, userData, requestsLog, { userSettings, bodyModelUrl }) {
  await check(page, 'status bar shows the server state and the ready pull request', async () => {
    const text = await waitFor('a Baton status with "1 to review"', async () => {
      const s = await statusText(page);
      return /Baton: (idle|working)/.test(s) && s.includes('1 to review') && s;
    }, 40000);
    log(`status bar: ${text}`);
  });

  await check(page, 'ghost text from Baton appears in a Rust file and Tab accepts it', async () => {
    await openFile(page, 'main.rs');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('let sum = ', { delay: 20 });
    const ghost = await waitFor('.ghost-text-decoration', async () => {
      const t = (await page.locator('.ghost-text-decoration').allInnerTexts()).join('').replace(/\u00a0/g, ' ');
      return t.length > 0 && t;
    }, 20000);
    if (!ghost.includes('a + b')) throw new Error(`ghost text is ${JSON.stringify(ghost)}, expected the model's "a + b"`);
    await page.keyboard.press('Tab');
    await waitFor('the accepted suggestion in the line', async () => (await viewText(page)).includes('let sum = a + b'), 5000);
    await waitFor('baton.accepted in the server log', () => fs.readFileSync(serverLog, 'utf8').includes('suggestion accepted'), 5000);
  });

  const ghostText = async () => (await page.locator('.ghost-text-decoration').allInnerTexts()).join('').replace(/\u00a0/g, ' ');

  await check(page, 'Alt+] shows the next suggestion: the second of the server\'s alternatives, and Tab accepts it', async () => {
    await openFile(page, 'main.rs');
    await page.keyboard.press('Control+End');
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await page.keyboard.type('let e = ', { delay: 20 });
    await waitFor('the usual suggestion as ghost text', async () => (await ghostText()) === REPLY_SHOWN, 20000);
    await page.keyboard.press('Alt+BracketRight');
    const next = await waitFor('another suggestion after Alt+]', async () => {
      const t = await ghostText();
      return t !== '' && t !== REPLY_SHOWN && t;
    }, 20000);
    if (next !== ALT_REPLIES[0]) throw new Error(`Alt+] shows ${JSON.stringify(next)}, expected the second suggestion ${JSON.stringify(ALT_REPLIES[0])}`);
    await page.keyboard.press('Tab');
    await waitFor('the second suggestion in the line', async () => (await viewText(page)).includes(`let e = ${ALT_REPLIES[0]}`), 5000);
  });

  await check(page, 'Baton: Open Completions Panel lists the suggestions; picking the second inserts it as one undoable edit', async () => {
    await openFile(page, 'main.rs');
    await page.keyboard.press('Control+End');
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await page.keyboard.type('let f = ', { delay: 20 });
    await page.keyboard.press('Escape');
    await runCommand(page, 'Baton: Open Completions Panel');
    const rows = await waitFor('three suggestions in the panel', async () => {
      const t = (await quickRows(page).allInnerTexts()).map((r) => r.replace(/\u00a0/g, ' '));
      return t.length === 3 && t.every((r, i) => r.includes(`Suggestion ${i + 1}/3`)) && t;
    }, 20000);
    const expected = [REPLY_SHOWN, ...ALT_REPLIES];
    rows.forEach((r, i) => {
      if (!r.includes(expected[i])) throw new Error(`row ${i + 1} is ${JSON.stringify(r)}, expected ${JSON.stringify(expected[i])}`);
    });
    await pickRow(page, 'Suggestion 2/3');
    await waitFor('the second suggestion in the line', async () => (await viewText(page)).includes(`let f = ${ALT_REPLIES[0]}`), 10000);
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+Z');
    await waitFor('one undo to take it out', async () => {
      const t = await viewText(page);
      return t.includes('let f =') && !t.includes(`let f = ${ALT_REPLIES[0]}`);
    }, 5000);
  });

  await check(page, 'a changed setting reaches the server (workspace/didChangeConfiguration)', async () => {
    // As a user would: Preferences: Open User Settings (JSON), add the key, save. (An edit of
    // the file from outside goes unnoticed by code-server.) The next model request names the
    // new model.
    await runCommand(page, 'Preferences: Open User Settings (JSON)');
    await waitFor('the settings.json editor', async () => (await viewText(page)).includes('"baton.provider.base_url"'), 10000);
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('End');
    await page.keyboard.type(' "baton.provider.model": "model-from-changed-settings",', { delay: 10 });
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+S');
    const settingsFile = path.join(userData, 'User', 'settings.json');
    await waitFor('settings.json saved with the new model', () => fs.readFileSync(settingsFile, 'utf8').includes('"baton.provider.model": "model-from-changed-settings"'), 10000);
    await openFile(page, 'main.rs');
    await page.keyboard.press('Control+End');
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await page.keyboard.type('let d = ', { delay: 20 });
    let n = 0;
    await waitFor('a model request with the changed model', async () => {
      const requests = fs.readFileSync(requestsLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
      if (requests.some((r) => JSON.stringify(r.body ?? '').includes('model-from-changed-settings'))) return true;
      // Ask again (a request may have gone out before the change arrived).
      await page.keyboard.type(String(n++ % 10), { delay: 20 });
      return false;
    }, 20000, 1000);
  });

  await check(page, 'clicking the status bar lists the task with its pull request actions', async () => {
    await page.locator('.statusbar-item', { hasText: 'Baton:' }).first().click();
    const rows = page.locator('.quick-input-list .monaco-list-row');
    const task = await waitFor('task #1 in the quick pick', async () => {
      const titles = await rows.allInnerTexts();
      const i = titles.findIndex((t) => t.includes('#1 Greet the whole world') && t.includes('ready'));
      return i >= 0 && rows.nth(i);
    }, 10000);
    await task.click();
    const actions = await waitFor('the actions of a ready pull request', async () => {
      const titles = (await rows.allInnerTexts()).join('|');
      return ['Review', 'Apply to working tree', 'Merge into the current branch', 'Request changes', 'Discard', 'Show'].every((a) => titles.includes(a)) && titles;
    }, 10000);
    log(`task actions: ${actions}`);
    await page.keyboard.press('Escape');
  });

  await check(page, 'Ctrl+. offers the pull request and "Apply to working tree" changes the file; the pull request stays open', async () => {
    await openFile(page, 'lib.rs');
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('ArrowDown');
    const rows = page.locator('.action-widget .monaco-list-row');
    const apply = await waitFor('a Baton PR "Apply to working tree" code action', async () => {
      if ((await rows.count()) === 0) {
        await page.keyboard.press('Control+.');
        await rows.first().waitFor({ state: 'visible', timeout: 3000 });
      }
      const titles = (await rows.allInnerTexts()).map((s) => s.replace(/\u00a0/g, ' '));
      const i = titles.findIndex((s) => /Baton PR #\d+ .*Apply to working tree/.test(s));
      if (i < 0) {
        log(`code actions: ${JSON.stringify(titles)}`);
        await page.keyboard.press('Escape');
        return false;
      }
      log(`picking code action ${JSON.stringify(titles[i])} of ${titles.length}`);
      return rows.nth(i);
    }, 20000, 500);
    await apply.click();
    await waitFor('the PR\'s change in the editor', async () => (await viewText(page)).includes('"hello, world"'), 10000);
    await waitFor('the apply message saying the pull request stays open', async () => {
      const toasts = await page.locator('.notification-list-item-message').allInnerTexts();
      return toasts.some((t) => t.includes('applied PR #1') && t.includes('stays open'));
    }, 10000);
    await page.keyboard.press('Control+S');
    await waitFor('the change on disk after saving', () => fs.readFileSync(path.join(repo, 'lib.rs'), 'utf8').includes('"hello, world"'), 10000);
    // Applying keeps the pull request open (issue 10): still ready and counted, the apply recorded.
    const shown = await waitFor('`baton task show 1` to record the apply', () => {
      const out = execFileSync(BATON_BIN, ['task', 'show', '1'], { cwd: repo, env: childEnv }).toString();
      return /^ {2}applied by Baton Test <test@baton\.invalid> at /m.test(out) && out;
    }, 10000);
    if (!/^state: ready\b/m.test(shown)) throw new Error(`the applied pull request is not ready any more:\n${shown}`);
    const status = await statusText(page);
    if (!status.includes('1 to review')) throw new Error(`the status bar no longer counts the applied pull request: ${JSON.stringify(status)}`);
  });

  await check(page, 'Baton: Show Task opens the task as a read-only document, not a dirty untitled one', async () => {
    await runCommand(page, 'Baton: Show Task');
    await pickRow(page, '#1 Greet the whole world');
    await waitFor('the task document', async () => (await page.locator('.tabs-container .tab.active').innerText()).includes('Baton task 1'), 10000);
    await waitFor('the task details', async () => (await viewText(page)).includes('Task #1: '), 10000);
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.type('typed', { delay: 10 });
    if ((await viewText(page)).includes('typed')) throw new Error('the task document took the typing: it is not read-only');
    const dirty = await page.locator('.tabs-container .tab.active.dirty').count();
    if (dirty !== 0) throw new Error('the task document is dirty');
    await page.keyboard.press('Control+W');
  });

  await check(page, 'edit selection with instruction: the input box takes the typing, the edit applies at once and one undo reverts it', async () => {
    await openFile(page, 'edit.rs');
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('End');
    await page.keyboard.press('Shift+Home');
    const before = chatRequests(requestsLog).length;
    await pickCodeAction(page, /edit selection with instruction/);
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 10000 });
    const focused = await page.evaluate("document.activeElement?.closest('.quick-input-widget') != null");
    if (!focused) throw new Error('the focus is not in the instruction input');
    await page.keyboard.type('Make it add', { delay: 10 });
    if (!(await viewText(page)).includes('x * 3')) throw new Error('typing the instruction changed the selected code');
    await page.keyboard.press('Enter');
    // Applied without a Refactor Preview: the buffer changes by itself.
    await waitFor('the model edit in the buffer', async () => {
      const t = await viewText(page);
      return t.includes('a + b') && !t.includes('x * 3');
    }, 20000);
    const sent = chatRequests(requestsLog).slice(before);
    if (!sent.some((r) => JSON.stringify(r.body).includes('Make it add'))) throw new Error('the instruction did not reach the model');
    await page.keyboard.press('Control+Z');
    await waitFor('one undo to restore the code', async () => {
      const t = await viewText(page);
      return t.includes('x * 3') && !t.includes('a + b');
    }, 5000);
    // Cancelling asks nothing of the model and changes nothing.
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('End');
    await page.keyboard.press('Shift+Home');
    const beforeCancel = chatRequests(requestsLog).length;
    await pickCodeAction(page, /edit selection with instruction/);
    await input.waitFor({ state: 'visible', timeout: 10000 });
    await page.keyboard.press('Escape');
    await input.waitFor({ state: 'hidden', timeout: 10000 });
    if (!(await viewText(page)).includes('x * 3')) throw new Error('cancelling changed the code');
    if (chatRequests(requestsLog).length !== beforeCancel) throw new Error('cancelling still asked the model');
  });

  await check(page, 'Baton: Delegate a Task… starts a task whose pull request the status bar then counts', async () => {
    await runCommand(page, 'Baton: Delegate a Task to a Background Agent');
    const input = page.locator('.quick-input-widget input');
    await waitFor('the prompt input box', async () => (await page.locator('.quick-input-widget').innerText()).includes('What should the agent do'), 10000);
    await input.fill('Add fn added');
    await page.keyboard.press('Enter');
    // The applied pull request #1 is still open: the new one makes two.
    const text = await waitFor('"2 to review" with the new task', async () => {
      const s = await statusText(page);
      return s.includes('2 to review') && s;
    }, 30000);
    log(`status bar: ${text}`);
    const tasks = execFileSync(BATON_BIN, ['task', 'list'], { cwd: repo, env: childEnv }).toString();
    if (!/\bready\s+scripted\s+\S.*\s+Add fn added$/m.test(tasks)) throw new Error(`baton task list does not show the delegated task as ready:\n${tasks}`);
  });

  await check(page, 'Review Pull Request opens VS Code\'s diff editor on base and head, file by file', async () => {
    await runCommand(page, 'Baton: Review Pull Request');
    await pickRow(page, '#2 Add fn added');
    // Two files: all of them, or one at a time.
    await waitForRows(page, 'the changed files', ['All 2 files', 'added.rs', 'lib.rs'], 10000);
    await pickRow(page, 'lib.rs');
    const diff = page.locator('.monaco-diff-editor').first();
    await diff.waitFor({ state: 'visible', timeout: 10000 });
    const side = (which) => diff.locator(`.editor.${which} .view-line`).allInnerTexts().then((t) => t.join('\n').replace(/\u00a0/g, ' '));
    await waitFor('base and head in the diff editor', async () => {
      const [base, head] = [await side('original'), await side('modified')];
      return base.includes('"hello"') && !base.includes('pub fn added') && head.includes('pub fn added');
    }, 10000);
    const tab = await page.locator('.tabs-container .tab.active').innerText();
    if (!tab.includes('lib.rs (Baton PR #2)')) throw new Error(`diff tab is ${JSON.stringify(tab)}`);
    await page.keyboard.press('Control+W');
  });

  await check(page, 'a multi-line suggestion follows an auto-closed bracket (auto-closing on)', async () => {
    // Point Baton at the second model, as a user edits settings.json.
    await runCommand(page, 'Preferences: Open User Settings (JSON)');
    await waitFor('the settings.json editor', async () => (await viewText(page)).includes('"baton.provider.base_url"'), 10000);
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(JSON.stringify({ ...userSettings, 'baton.provider.base_url': `${bodyModelUrl}/v1` }, null, 2));
    await page.keyboard.press('Control+S');
    const settingsFile = path.join(userData, 'User', 'settings.json');
    await waitFor('settings.json saved with the second model', () => fs.readFileSync(settingsFile, 'utf8').includes(bodyModelUrl), 10000);
    await openFile(page, 'store.py');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('def has(self, key', { delay: 30 });
    await waitFor('the auto-closed bracket', async () => (await viewText(page)).includes('def has(self, key)'), 5000);
    await waitFor('the multi-line ghost text', async () => {
      // One span per token: joined as rendered.
      const t = (await page.locator('[class*="ghost-text"]').allInnerTexts()).join('').replace(/\u00a0/g, ' ');
      return t.includes('-> bool:') && t.includes('return key in self.data') && t;
    }, 20000).catch(async (e) => {
      const html = await page.locator('.editor-group-container.active .monaco-editor .lines-content').first().innerHTML().catch((x) => String(x));
      fs.writeFileSync(path.join(tmp, 'ghost.html'), html);
      throw e;
    });
    await page.keyboard.press('Tab');
    await waitFor('the signature and body in the buffer', async () => {
      const t = await viewText(page);
      return t.includes('    def has(self, key) -> bool:\n        return key in self.data') && t;
    }, 5000);
    const text = await viewText(page);
    if (text.includes(':)') || text.includes('data)')) throw new Error(`a stray closer is left: ${JSON.stringify(text)}`);
  });

  await check(page, 'next edit: rename a parameter with the keyboard, Tab jumps to each predicted use and Tab applies it; Escape dismisses', async () => {
    // Only next edits this time: inline completion off, as a user sets it.
    await runCommand(page, 'Preferences: Open User Settings (JSON)');
    await waitFor('the settings.json editor', async () => (await viewText(page)).includes('"baton.provider.base_url"'), 10000);
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(JSON.stringify({ ...userSettings, 'baton.provider.base_url': `${bodyModelUrl}/v1`, 'baton.completion.enabled': false }, null, 2));
    await page.keyboard.press('Control+S');
    const settingsFile = path.join(userData, 'User', 'settings.json');
    await waitFor('settings.json saved with completion off', () => fs.readFileSync(settingsFile, 'utf8').includes('"baton.completion.enabled": false'), 10000);
    await openFile(page, 'rename.py');
    // The struck-through text of the shown next edit (the decoration's computed style).
    const struck = () =>
      page.evaluate(() =>
        [...globalThis.document.querySelectorAll('.editor-group-container.active .monaco-editor .view-lines span')]
          .filter((e) => e.children.length === 0 && globalThis.getComputedStyle(e).textDecorationLine.includes('line-through'))
          .map((e) => e.textContent),
      );
    await page.keyboard.press('Control+Home');
    for (let i = 0; i < 'def scale(va'.length; i++) await page.keyboard.press('ArrowRight');
    // Ctrl+D selects the word at the cursor; typing replaces it.
    await page.keyboard.press('Control+D');
    await page.keyboard.type('amount', { delay: 30 });
    for (let n = 1; n <= 2; n++) {
      await waitFor(`next edit ${n} shown, "value" struck`, async () => (await struck()).join('') === 'value', 15000);
      await page.keyboard.press('Tab'); // to the edit
      await page.keyboard.press('Tab'); // apply it
      await waitFor(`next edit ${n} applied`, async () => (await viewText(page)).split('amount').length - 1 === n + 1, 5000);
    }
    await waitFor('no next edit left', async () => (await struck()).length === 0, 5000);
    await waitFor('both accepts in the server log', () => fs.readFileSync(serverLog, 'utf8').split('next edit accepted').length - 1 === 2, 5000);
    const renamed = 'def scale(amount, factor):\n    return amount * factor + amount';
    if (!(await viewText(page)).includes(renamed)) throw new Error(`not renamed: ${JSON.stringify(await viewText(page))}`);
    await page.keyboard.press('Control+S');
    await waitFor('the renamed file on disk', () => fs.readFileSync(path.join(repo, 'rename.py'), 'utf8') === `${renamed}\n`, 5000);

    // Escape dismisses; Tab then keeps its meaning (indents).
    await page.keyboard.press('Control+Home');
    for (let i = 0; i < 'def scale(amount, fa'.length; i++) await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Control+D');
    await page.keyboard.type('k', { delay: 30 });
    await waitFor('the next edit for "factor"', async () => (await struck()).join('') === 'factor', 15000);
    await page.keyboard.press('Escape');
    await waitFor('the next edit dismissed', async () => (await struck()).length === 0, 5000);
    await waitFor('the dismissal in the server log', () => fs.readFileSync(serverLog, 'utf8').includes('next edit dismissed'), 5000);
    await page.keyboard.press('Tab');
    await waitFor('Tab indents as usual', async () => /def scale\(amount, k\s+\):/.test(await viewText(page)), 5000);
    if (!(await viewText(page)).includes('amount * factor')) throw new Error('the dismissed edit was applied');
    await runCommand(page, 'File: Revert File');
    await waitFor('the file reverted', async () => (await viewText(page)).includes(renamed), 5000);
  });

  await check(page, 'Delegate a Task to a Chosen Agent… lists the presets and profiles (baton/agents) and starts the task with the one picked', async () => {
    await runCommand(page, 'Baton: Delegate a Task to a Chosen Agent');
    await waitForRows(page, 'the agents, built-in presets included, with the state the server gives', ['second', 'aider', 'claude', 'missing'], 30000);
    await pickRow(page, 'second');
    const input = page.locator('.quick-input-widget input');
    await waitFor('the prompt input box', async () => (await page.locator('.quick-input-widget').innerText()).includes('What should the agent do'), 10000);
    await input.fill('Add fn chosen');
    await page.keyboard.press('Enter');
    const tasks = await waitFor('the task listed with the agent picked', async () => {
      const t = execFileSync(BATON_BIN, ['task', 'list'], { cwd: repo, env: childEnv }).toString();
      return /^\s*\d+\s+\S+\s+second\s+.*Add fn chosen$/m.test(t) && t;
    }, 30000);
    log(`tasks:\n${tasks}`);
  });

  await check(page, 'server log lines carry their own level in the Baton output channel', async () => {
    await runCommand(page, 'Baton: Show Logs');
    const lines = page.locator('.panel .view-line');
    const text = await waitFor('[info] lines in the Baton channel', async () => {
      const t = (await lines.allInnerTexts()).map((l) => l.replace(/\u00a0/g, ' '));
      return t.some((l) => l.includes('[info]')) && t;
    }, 10000);
    const errors = text.filter((l) => l.includes('[error]'));
    if (errors.length) throw new Error(`lines labelled [error]: ${JSON.stringify(errors)}`);
  });

  await check(page, '"Open Settings" for a missing server opens baton.serverPath in the Remote settings code-server keeps it in', async () => {
    await runCommand(page, 'Preferences: Open Remote Settings (JSON)');
    await waitFor('the remote settings.json editor', async () => (await viewText(page)).includes('"baton.serverPath"'), 10000);
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(JSON.stringify({ 'baton.serverPath': '/nonexistent/baton' }, null, 2));
    await page.keyboard.press('Control+S');
    const button = page.locator('.notification-list-item', { hasText: 'was not found' }).locator('a.monaco-button', { hasText: 'Open Settings' });
    await button.first().waitFor({ state: 'visible', timeout: 20000 });
    await button.first().click();
    const editor = page.locator('.settings-editor');
    await editor.waitFor({ state: 'visible', timeout: 10000 });
    await waitFor('the Remote tab with baton.serverPath', async () => {
      const tab = (await editor.locator('.settings-tabs-widget .action-item .checked, .settings-tabs-widget .action-label.checked').allInnerTexts()).join('|');
      const rows = (await editor.locator('.setting-item-contents').allInnerTexts()).join('|');
      return /Remote/i.test(tab) && rows.includes('Server Path') && { tab };
    }, 10000);
  });
}

/** Text the shown next edit inserts (its `after` decoration's content), per rendered span. */
const insertedTexts = (page) =>
  page.evaluate(() =>
    [...globalThis.document.querySelectorAll('.editor-group-container.active .monaco-editor .view-lines span')]
      .flatMap((e) => [globalThis.getComputedStyle(e, '::after').content, /\bced-/.test(e.className) ? e.textContent : ''])
      .filter((c) => c && c !== 'none' && c !== 'normal')
      .map((c) => c.replace(/^"|"$/g, '')),
  );

/** The real model's check: an edit typed with the keyboard, the model's next edit on the next
 * line by analogy, Tab Tab, chained to the last line; each accept is a `model:` one. */
async function runRealModel(page, repo, serverLog) {
  await check(page, 'next edit from the real model: append .strip() to one assignment, Tab Tab applies the predicted one on each following line', async () => {
    await openFile(page, 'contact.py');
    // The server starts with the first Python file: its text must be the one before the edit.
    await waitFor('the server running', async () => /Baton: (idle|working)/.test(await statusText(page)), 60000);
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('End');
    const t0 = Date.now();
    await page.keyboard.type('.strip()', { delay: 30 });
    const accepted = () => (fs.readFileSync(serverLog, 'utf8').match(/next edit accepted.*model:\d+|model:\d+.*next edit accepted/g) ?? []).length;
    const expected = ['        self.name = name.strip()', '        self.email = email.strip()', '        self.city = city.strip()'];
    for (let n = 1; n <= 2; n++) {
      await waitFor(`the model's next edit ${n} shown (".strip()" inserted)`, async () => (await insertedTexts(page)).includes('.strip()'), 120000, 250);
      log(`model next edit ${n} shown after ${Date.now() - t0} ms`);
      await page.keyboard.press('Tab'); // to the edit
      await page.keyboard.press('Tab'); // apply it
      await waitFor(`next edit ${n} applied`, async () => (await viewText(page)).includes(expected.slice(0, n + 1).join('\n')), 10000);
      await waitFor(`accept ${n} of a model: suggestion in the server log`, () => accepted() === n, 10000);
    }
    await page.keyboard.press('Control+S');
    const done = `class Contact:\n    def __init__(self, name, email, city):\n${expected.join('\n')}\n`;
    await waitFor('the edited file on disk', () => fs.readFileSync(path.join(repo, 'contact.py'), 'utf8') === done, 10000);
  });
}

let exitCode = 1;
try {
  await main();
  exitCode = failed === 0 && passed > 0 ? 0 : 1;
} catch (e) {
  failed++;
  console.log(`FAIL setup: ${e.stack ?? e}`);
  process.env.BATON_E2E_KEEP = '1';
} finally {
  await stopAll();
  if (process.env.BATON_E2E_KEEP === '1') log(`kept ${tmp} (server log baton.log, code-server.log, screenshots)`);
  else fs.rmSync(tmp, { recursive: true, force: true });
  log(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode);
