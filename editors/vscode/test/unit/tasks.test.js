const test = require('node:test');
const assert = require('node:assert/strict');
const { actionFor, presentAction, resultMessage, statusText, statusTooltip, taskDetailsText } = require('../../out/tasks.js');

const tasks = (over) => ({ queued: 0, running: 0, awaitingReview: 0, awaitingPlanApproval: 0, failed: 0, interrupted: 0, tasks: [], ...over });

test('the status bar shows the model state and the task counts that are not zero', () => {
  const status = { state: 'idle', provider: 'openai', model: 'qwen' };
  assert.equal(statusText(status, tasks({ running: 1, awaitingReview: 2 })), '$(sparkle) Baton: idle · 1 running · 2 to review');
  assert.equal(statusText(status, tasks({ awaitingPlanApproval: 2, failed: 1 })), '$(sparkle) Baton: idle · 2 plans to approve · 1 failed');
  assert.equal(statusText({ ...status, state: 'working' }, undefined), '$(loading~spin) Baton: working');
  assert.equal(statusText(undefined, undefined), '$(sparkle) Baton: starting');
  const tip = statusTooltip({ ...status, state: 'unreachable', message: 'nothing answers' }, tasks({ tasks: [{ id: 3, title: 'Add x', state: 'ready', agent: 'a' }] }));
  assert.match(tip, /unreachable \(openai, qwen\)/);
  assert.match(tip, /nothing answers/);
  assert.match(tip, /#3 ready: Add x/);
});

test('a task offers exactly the actions the server sent, presented with icons, feedback and confirmation', () => {
  const merge = { id: 'merge', title: 'Merge into the current branch', command: 'baton.pr.merge' };
  const changes = { id: 'request-changes', title: 'Request changes…', command: 'baton.pr.requestChanges' };
  const task = { id: 1, title: 't', state: 'ready', agent: 'a', actions: [merge, changes] };
  assert.equal(actionFor(task, 'baton.pr.merge'), merge);
  assert.equal(actionFor(task, 'baton.pr.apply'), undefined, 'not sent, not offered, whatever the state');
  assert.equal(actionFor({ ...task, actions: undefined }, 'baton.pr.merge'), undefined);
  assert.deepEqual(presentAction(merge), { label: '$(git-merge) Merge into the current branch', feedback: false, confirm: true });
  assert.deepEqual(presentAction(changes), { label: '$(comment) Request changes…', feedback: true, confirm: false });
  assert.deepEqual(presentAction({ id: 'future', title: 'Future', command: 'baton.x' }), { label: 'Future', feedback: false, confirm: false });
});

test('results and task details read well', () => {
  assert.equal(resultMessage('baton.pr.merge', 4, { commit: '0123456789abcdef', signedOffBy: 'A <a@b>' }), 'Baton: merged PR #4 as 0123456789, signed off by A <a@b>.');
  assert.match(resultMessage('baton.pr.apply', 4, { applied: true, files: 2 }), /applied PR #4 .*2 file.*stays open until you merge or discard it/);
  assert.equal(resultMessage('baton.pr.review', 4, {}), undefined);
  const details = 'Task #7: Add fn added\nstate: ready   agent: scripted\n';
  assert.equal(taskDetailsText({ task: { id: 7 }, log: [], pullRequest: null, signoffs: [], details }), details, 'the server\'s text, as is');
  assert.match(taskDetailsText({ task: { id: 7 } }), /sent no details/);
  assert.match(taskDetailsText(null), /sent no details/);
});
