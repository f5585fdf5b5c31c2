// The completions panel's rows for the server's suggestions.
const test = require('node:test');
const assert = require('node:assert/strict');

const { panelRows } = require('../../out/panelItems.js');

const at = { start: { line: 1, character: 4 }, end: { line: 1, character: 4 } };

test('one row per suggestion, in the server order, numbered, the first line as the label', () => {
  const rows = panelRows([
    { insertText: 'a + b', range: at },
    { insertText: '\n    total = a + b\n    return total', range: at },
  ]);
  assert.deepEqual(rows, [
    { label: 'a + b', description: 'Suggestion 1/2', detail: undefined, index: 0 },
    { label: 'total = a + b', description: 'Suggestion 2/2 · 3 lines', detail: 'return total', index: 1 },
  ]);
});

test('a long suggestion previews its first lines and says there is more', () => {
  const text = Array.from({ length: 12 }, (_, i) => `line${i}`).join('\n');
  const [row] = panelRows([{ insertText: text, range: at }]);
  assert.equal(row.label, 'line0');
  assert.equal(row.detail, 'line1 ⏎ line2 ⏎ line3 ⏎ line4 ⏎ line5 ⏎ line6 ⏎ …');
});

test('a whitespace-only suggestion still gets a readable label', () => {
  const [row] = panelRows([{ insertText: '   ', range: at }]);
  assert.equal(row.label, '(whitespace only)');
});
