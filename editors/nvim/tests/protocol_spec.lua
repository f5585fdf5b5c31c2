-- tests/protocol_spec.lua: the plugin's protocol names agree with editors/protocol.json (the
-- file the server generates: the single source of truth for methods, commands and states).
local T = require('helpers')
local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local protocol = vim.json.decode(T.read(here .. '/../../protocol.json'))
local baton = require('baton')

T.test('methods and commands match protocol.json', function()
  T.truthy(vim.tbl_contains(protocol.notifications.serverToClient, baton.STATUS_METHOD), baton.STATUS_METHOD)
  T.truthy(vim.tbl_contains(protocol.notifications.clientToServer, baton.DID_SHOW_METHOD), baton.DID_SHOW_METHOD)
  T.truthy(vim.tbl_contains(protocol.requests.clientToServer, baton.HEALTH_METHOD), baton.HEALTH_METHOD)
  T.truthy(vim.tbl_contains(protocol.requests.clientToServer, baton.PANEL_METHOD), baton.PANEL_METHOD)
  T.truthy(vim.tbl_contains(protocol.requests.clientToServer, baton.AGENTS_METHOD), baton.AGENTS_METHOD)
  T.eq(baton.PANEL_METHOD, require('baton.panel').METHOD, 'the panel sends baton.PANEL_METHOD')
  for _, c in ipairs({ baton.CMD_EDIT, baton.CMD_FIX, baton.CMD_ACCEPTED }) do
    T.truthy(vim.tbl_contains(protocol.commands, c), c .. ' in protocol.json commands')
  end
  T.eq('experimental.baton.status', protocol.clientCapability, 'client capability path')
  T.eq(
    true,
    vim.tbl_get(baton.capabilities(), unpack(vim.split(protocol.clientCapability, '.', { plain = true }))),
    'declared'
  )
end)

T.test('orchestrator names match protocol.json: baton/tasks, task and PR commands, capabilities', function()
  T.truthy(vim.tbl_contains(protocol.notifications.serverToClient, baton.TASKS_METHOD), baton.TASKS_METHOD)
  local cmds = require('baton.commands')
  local used = { baton.CMD_TASK_START, baton.CMD_TASK_LIST }
  for _, a in ipairs(cmds.actions) do
    used[#used + 1] = a.command
  end
  for _, c in ipairs(used) do
    T.truthy(vim.tbl_contains(protocol.commands, c), c .. ' in protocol.json commands')
  end
  -- Every server command of orchestrator mode has a client-side handler (for code actions).
  cmds.setup()
  for _, c in ipairs(protocol.commands) do
    if
      c:match('^baton%.pr%.')
      or c == baton.CMD_TASK_START
      or c == baton.CMD_TASK_APPROVE_PLAN
      or c == baton.CMD_TASK_RESUME
    then
      T.truthy(vim.lsp.commands[c], 'vim.lsp.commands handler for ' .. c)
    end
  end
  for _, name in ipairs({
    'CMD_TASK_START',
    'CMD_TASK_LIST',
    'CMD_TASK_SHOW',
    'CMD_TASK_APPROVE_PLAN',
    'CMD_TASK_RESUME',
    'CMD_PR_REVIEW',
    'CMD_PR_APPLY',
    'CMD_PR_MERGE',
    'CMD_PR_REQUEST_CHANGES',
    'CMD_PR_DISCARD',
  }) do
    T.truthy(vim.tbl_contains(protocol.commands, baton[name]), name .. ' = ' .. tostring(baton[name]))
  end
  for _, cap in ipairs(protocol.clientCapabilities) do
    T.eq(true, vim.tbl_get(baton.capabilities(), unpack(vim.split(cap, '.', { plain = true }))), cap .. ' declared')
  end
  T.eq(true, vim.tbl_get(baton.capabilities(), 'window', 'workDoneProgress'), 'window.workDoneProgress declared')
  -- The subcommands are the server's task actions, same ids, same commands, same order.
  T.eq(
    vim.tbl_map(function(a)
      return { id = a.id, command = a.command }
    end, protocol.taskActions),
    vim.tbl_map(function(a)
      return { id = a.name, command = a.command }
    end, cmds.actions),
    'task actions match protocol.json taskActions'
  )
end)

T.test('the statusline shows task counts from baton/tasks', function()
  local orig = baton.client
  baton.client = function()
    return { id = -1 }
  end
  baton.state[-1] = { state = 'idle' }
  baton.tasks[-1] =
    { queued = 0, running = 1, awaitingReview = 2, awaitingPlanApproval = 0, failed = 1, interrupted = 0, tasks = {} }
  local s = baton.status()
  baton.tasks[-1] =
    { queued = 0, running = 0, awaitingReview = 0, awaitingPlanApproval = 0, failed = 0, interrupted = 0, tasks = {} }
  local none = baton.status()
  baton.client = orig
  baton.state[-1], baton.tasks[-1] = nil, nil
  T.eq('Baton: idle · 1 running · 2 to review · 1 failed', s, 'status with tasks')
  T.eq('Baton: idle', none, 'status without tasks')
end)

T.test('every status state has a statusline label', function()
  for _, st in ipairs(protocol.statusStates) do
    baton.state[-1] = { state = st }
    local client = { id = -1 }
    local orig = baton.client
    baton.client = function()
      return client
    end
    local s = baton.status()
    baton.client = orig
    baton.state[-1] = nil
    T.truthy(s:match('^Baton: ' .. vim.pesc(st)), ('label for %s: %q'):format(st, s))
  end
end)

T.test('settings documented in doc/baton.txt exist in protocol.json', function()
  local doc = T.read(here .. '/../doc/baton.txt')
  local checked = 0
  for key in doc:gmatch('`((%l+)%.[%l_]+)`') do
    if
      key:match('^provider%.')
      or key:match('^completion%.')
      or key:match('^edit%.')
      or key:match('^orchestrator%.')
    then
      T.truthy(protocol.settings[key] ~= nil, key .. ' (doc/baton.txt) in protocol.json settings')
      checked = checked + 1
    end
  end
  T.truthy(checked >= 10, ('found %d documented settings'):format(checked))
end)

T.test('the task menu offers exactly the actions the server sends, in its order', function()
  local cmds = require('baton.commands')
  local titles
  local select = vim.ui.select
  vim.ui.select = function(items, opts)
    titles = vim.tbl_map(opts.format_item, items)
  end
  -- A ready task the server allows only two things for: no client rule adds the others.
  cmds.task_menu({} --[[@as vim.lsp.Client]], {
    id = 7,
    state = 'ready',
    title = 't',
    agent = 'a',
    actions = {
      { id = 'discard', title = 'Throw it away', command = 'baton.pr.discard' },
      { id = 'show', title = 'Show details', command = 'baton.task.show' },
      { id = 'unknown-to-this-client', title = 'Later', command = 'baton.later' },
    },
  })
  vim.ui.select = select
  T.eq({ 'Throw it away', 'Show details' }, titles, "the server's actions, titles as sent")
end)

T.run()
