// The server's stderr lines map to the output channel's levels.
const test = require('node:test');
const assert = require('node:assert/strict');
const { serverLogLine } = require('../../out/logs.js');

test('tracing lines keep their level and lose the timestamp', () => {
  assert.deepEqual(serverLogLine('2026-12-05T04:09:00.123456Z  INFO baton::server: started'), { level: 'info', text: 'baton::server: started' });
  assert.deepEqual(serverLogLine('2026-12-05T04:09:00.1Z  WARN baton: slow'), { level: 'warn', text: 'baton: slow' });
  assert.equal(serverLogLine('2026-12-05T04:09:00.1Z ERROR baton: failed').level, 'error');
  assert.equal(serverLogLine('2026-12-05T04:09:00.1Z DEBUG baton: x').level, 'debug');
  assert.equal(serverLogLine('2026-12-05T04:09:00.1Z TRACE baton: x').level, 'trace');
});

test('other lines continue the previous level; a panic is an error', () => {
  assert.deepEqual(serverLogLine('    second line of a message', 'warn'), { level: 'warn', text: '    second line of a message' });
  assert.deepEqual(serverLogLine('plain'), { level: 'info', text: 'plain' });
  assert.equal(serverLogLine("thread 'main' panicked at server/x.rs:1:1:", 'info').level, 'error');
});
