const test = require('node:test');
const assert = require('node:assert/strict');
const { resultMessage, statusText, statusTooltip, taskActions, taskDetailsMarkdown } = require('../../out/tasks.js');

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

test('each state offers the actions that apply to it', () => {
  const labels = (state) => taskActions({ id: 1, title: 't', state, agent: 'a' }).map((a) => a.command);
  assert.deepEqual(labels('ready'), ['baton.pr.review', 'baton.pr.apply', 'baton.pr.merge', 'baton.pr.requestChanges', 'baton.pr.discard', 'baton.task.show']);
  assert.deepEqual(labels('awaiting_plan_approval'), ['baton.task.approvePlan', 'baton.task.show', 'baton.pr.discard']);
  assert.deepEqual(labels('failed'), ['baton.task.resume', 'baton.task.show', 'baton.pr.discard']);
  assert.deepEqual(labels('interrupted'), ['baton.task.resume', 'baton.task.show', 'baton.pr.discard']);
  assert.deepEqual(labels('running'), ['baton.task.show', 'baton.pr.discard']);
  assert.deepEqual(labels('merged'), ['baton.task.show']);
  const ready = taskActions({ id: 1, title: 't', state: 'ready', agent: 'a' });
  assert.equal(ready.find((a) => a.command === 'baton.pr.requestChanges').feedback, true);
  assert.equal(ready.find((a) => a.command === 'baton.pr.merge').confirm, true);
});

test('results and task details read well', () => {
  assert.equal(resultMessage('baton.pr.merge', 4, { commit: '0123456789abcdef', signedOffBy: 'A <a@b>' }), 'Baton: merged PR #4 as 0123456789, signed off by A <a@b>.');
  assert.match(resultMessage('baton.pr.apply', 4, { applied: true, files: 2 }), /applied PR #4 .*2 file.*stays open until you merge or discard it/);
  assert.equal(resultMessage('baton.pr.review', 4, {}), undefined);
  const md = taskDetailsMarkdown({
    task: { id: 7, prompt: 'Add fn added\nmore', state: 'ready', agent: 'scripted', branch: 'baton/task-7', summary: 'Added fn added' },
    log: [{ time_ms: 0, line: 'agent started' }],
    pull_request: { title: 'Add fn added', stat: { files_changed: 1, insertions: 1, deletions: 0 }, check: 'none', files: [{ path: 'lib.rs' }] },
    signoffs: [],
  });
  assert.match(md, /^# Baton task #7: Add fn added$/m);
  assert.match(md, /1 file\(s\), \+1 -0/);
  assert.match(md, /- lib\.rs/);
  assert.match(md, /agent started/);
});
