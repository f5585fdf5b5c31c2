const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { explicitValue, nest, serverSettings } = require('../../out/settings.js');
const { resolveServerPath } = require('../../out/serverPath.js');

test('dotted keys become the nested object the server reads; arrays and nulls stay as they are', () => {
  const agents = [{ name: 'scripted', kind: 'cli', command: ['sh', 'a.sh'] }];
  assert.deepEqual(
    nest({ 'provider.base_url': 'http://127.0.0.1:1/v1', 'provider.model': 'm', 'completion.debounce_ms': 10, agents, 'orchestrator.check_command': null, 'edit.max_tokens': undefined }),
    { provider: { base_url: 'http://127.0.0.1:1/v1', model: 'm' }, completion: { debounce_ms: 10 }, agents, orchestrator: { check_command: null } },
  );
});

test('only settings the user set are sent, the most specific scope winning', () => {
  assert.equal(explicitValue({ globalValue: 1, workspaceValue: 2, workspaceFolderValue: 3 }), 3);
  assert.equal(explicitValue({ globalValue: 1, workspaceValue: 2 }), 2);
  assert.equal(explicitValue({ globalValue: false }), false);
  assert.equal(explicitValue({}), undefined);
  const inspected = { 'provider.model': { globalValue: 'x' }, 'completion.enabled': {} };
  assert.deepEqual(serverSettings(['provider.model', 'completion.enabled'], (k) => inspected[k]), { provider: { model: 'x' } });
});

test('the server binary is found on PATH, then in ~/.cargo/bin, with a message saying what to do otherwise', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-path-'));
  const bin = path.join(dir, 'bin');
  const home = path.join(dir, 'home');
  fs.mkdirSync(bin);
  fs.mkdirSync(path.join(home, '.cargo', 'bin'), { recursive: true });
  const missing = resolveServerPath('baton', { PATH: bin }, undefined, home);
  assert.equal(missing.ok, false);
  assert.match(missing.message, /not found on PATH/);
  assert.match(missing.message, /cargo install --path \./);
  assert.match(missing.message, /baton\.serverPath/);

  const cargo = path.join(home, '.cargo', 'bin', 'baton');
  fs.writeFileSync(cargo, '#!/bin/sh\n', { mode: 0o755 });
  assert.deepEqual(resolveServerPath('baton', { PATH: bin }, undefined, home), { ok: true, path: cargo });
  const onPath = path.join(bin, 'baton');
  fs.writeFileSync(onPath, '#!/bin/sh\n', { mode: 0o755 });
  assert.deepEqual(resolveServerPath('baton', { PATH: bin }, undefined, home), { ok: true, path: onPath });

  assert.deepEqual(resolveServerPath('bin/baton', {}, dir, home), { ok: true, path: onPath });
  const notExec = path.join(dir, 'plain');
  fs.writeFileSync(notExec, '', { mode: 0o644 });
  const bad = resolveServerPath(notExec, {}, undefined, home);
  assert.equal(bad.ok, false);
  assert.match(bad.message, /not found at .*plain/);
});

test('a change sends only the explicit settings: a removed one is left out for the server to fall back', () => {
  const keys = ['provider.model', 'provider.base_url', 'completion.debounce_ms'];
  const after = { 'provider.model': { defaultValue: 'qwen2.5-coder' }, 'provider.base_url': { globalValue: 'http://x/v1', defaultValue: 'http://127.0.0.1:8080/v1' }, 'completion.debounce_ms': { workspaceValue: 5, defaultValue: 75 } };
  assert.deepEqual(serverSettings(keys, (k) => after[k]), { provider: { base_url: 'http://x/v1' }, completion: { debounce_ms: 5 } });
});
