// The extension's settings and protocol names against editors/protocol.json, which the server
// generates from server/lsp/ext.rs and server/config.rs.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const protocol = JSON.parse(fs.readFileSync(path.join(root, '..', 'protocol.json'), 'utf8'));
const { AGENTS, CMD, COMPLETION_PANEL, DID_SHOW_INLINE_EDIT, EXPERIMENTAL_CAPABILITIES, HEALTH, INLINE_EDIT, NES_DISMISS, STATUS, TASKS, TASK_FILE, TASK_FILES } = require('../../out/protocol.js');
const { CLIENT_SETTINGS, serverSettingKeys } = require('../../out/settings.js');
const { presentAction } = require('../../out/tasks.js');

const props = pkg.contributes.configuration.properties;

test('package.json contributes exactly the server settings of protocol.json, with the same defaults', () => {
  const ours = Object.fromEntries(serverSettingKeys(pkg).map((k) => [k, props[`baton.${k}`].default]));
  assert.deepEqual(ours, protocol.settings);
});

test('each server setting has a type that admits its default, and a description', () => {
  for (const [key, def] of Object.entries(protocol.settings)) {
    const p = props[`baton.${key}`];
    const types = [].concat(p.type);
    const kind = def === null ? 'null' : Array.isArray(def) ? 'array' : Number.isInteger(def) && types.includes('integer') ? 'integer' : typeof def;
    assert.ok(types.includes(kind), `baton.${key}: type ${p.type} does not admit ${JSON.stringify(def)}`);
    if (p.enum) assert.ok(p.enum.includes(def), `baton.${key}: default not in enum`);
    assert.ok((p.markdownDescription ?? p.description ?? '').length > 10, `baton.${key} needs a description`);
  }
});

test('client-only settings are the only other contributed settings', () => {
  const others = Object.keys(props).map((k) => k.slice('baton.'.length)).filter((k) => !(k in protocol.settings));
  assert.deepEqual(others.sort(), [...CLIENT_SETTINGS].sort());
});

test('every server command the extension sends is one the server executes', () => {
  for (const name of Object.values(CMD)) assert.ok(protocol.commands.includes(name), `${name} is not in protocol.json`);
});

test('every task action the server may offer is one the extension presents (it keeps no rules of which apply)', () => {
  assert.ok(protocol.taskActions.length >= 8);
  for (const { id, command } of protocol.taskActions) {
    assert.ok(protocol.commands.includes(command), `${command} (action ${id}) is not in protocol.json`);
    const shown = presentAction({ id, title: 'T', command });
    assert.match(shown.label, /^\$\([a-z-]+\) T$/, `action ${id} has no icon`);
  }
  const source = fs.readFileSync(path.join(root, 'src', 'tasks.ts'), 'utf8') + fs.readFileSync(path.join(root, 'src', 'extension.ts'), 'utf8');
  for (const state of protocol.taskStates.filter((s) => s.includes('_'))) {
    assert.ok(!source.includes(`'${state}'`), `the extension names the state ${state}: which actions apply is the server's to say`);
  }
});

test('notification and request names and client capabilities match protocol.json', () => {
  assert.ok(protocol.notifications.serverToClient.includes(STATUS));
  assert.ok(protocol.notifications.serverToClient.includes(TASKS));
  for (const m of [HEALTH, AGENTS, TASK_FILES, TASK_FILE, INLINE_EDIT, COMPLETION_PANEL]) assert.ok(protocol.requests.clientToServer.includes(m), m);
  assert.ok(protocol.notifications.clientToServer.includes(DID_SHOW_INLINE_EDIT));
  assert.ok(protocol.commands.includes(NES_DISMISS));
  const declared = Object.entries(EXPERIMENTAL_CAPABILITIES.baton).filter(([, v]) => v === true).map(([k]) => `experimental.baton.${k}`);
  assert.deepEqual(declared.sort(), [...protocol.clientCapabilities].sort());
});

test('Tab and Escape for next edits apply only while one is shown, never over a suggestion', () => {
  const keys = pkg.contributes.keybindings;
  for (const [key, command] of [['tab', 'baton.acceptNextEdit'], ['escape', 'baton.dismissNextEdit']]) {
    const k = keys.find((b) => b.key === key);
    assert.equal(k.command, command);
    for (const clause of ['editorTextFocus', 'baton.nextEditVisible', '!inlineSuggestionVisible', '!suggestWidgetVisible']) {
      assert.ok(k.when.split(' && ').includes(clause), `${key}: ${clause} missing from ${k.when}`);
    }
  }
  const source = fs.readFileSync(path.join(root, 'src', 'nes.ts'), 'utf8');
  assert.ok(source.includes("VISIBLE_KEY = 'baton.nextEditVisible'"));
});

test("the extension's own commands do not collide with server commands (vscode-languageclient registers those)", () => {
  const ours = pkg.contributes.commands.map((c) => c.command);
  assert.ok(ours.length >= 14);
  for (const c of ours) assert.ok(!protocol.commands.includes(c), `${c} collides with a server command`);
  for (const c of pkg.contributes.commands) assert.equal(c.category, 'Baton');
  const source = fs.readFileSync(path.join(root, 'src', 'extension.ts'), 'utf8');
  for (const c of ours) assert.ok(source.includes(`'${c}'`), `${c} is contributed but never registered`);
});

test('the engine matches what vscode-languageclient needs', () => {
  const lc = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'vscode-languageclient', 'package.json'), 'utf8'));
  assert.equal(pkg.engines.vscode, lc.engines.vscode);
  const [major, minor] = lc.version.split('.').map(Number);
  assert.ok(major > 10 || (major === 10 && minor >= 1), `vscode-languageclient ${lc.version} lacks native inline completion`);
});
