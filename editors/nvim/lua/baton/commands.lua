-- baton.commands: the `:Baton` user command and its subcommands (status, health, edit, log,
-- restart, and the task wrappers), plus the client-side handler for the `baton.edit` command
-- that code actions carry (it asks for the instruction with vim.ui.input first).
-- Every request here is asynchronous: nothing waits on the server.

local M = {}

local api = vim.api

local function baton()
  return require('baton')
end

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = 'Baton' })
end

---The Baton client for the current buffer, or nil after telling the user why.
local function need_client(bufnr)
  local client = baton().client(bufnr or api.nvim_get_current_buf())
  if not client then
    notify('Baton: no Baton language server is running for this buffer (see :checkhealth baton)', vim.log.levels.WARN)
  end
  return client
end

---True when the server lists `command` in executeCommandProvider.
function M.server_has_command(client, command)
  local p = client.server_capabilities and client.server_capabilities.executeCommandProvider
  return type(p) == 'table' and vim.list_contains(p.commands or {}, command)
end

---Sends workspace/executeCommand (async). `on_result(result)` runs on success; errors are
---reported to the user. Fails with a clear message when the server lacks the command.
function M.execute(client, command, arguments, bufnr, on_result)
  if not M.server_has_command(client, command) then
    notify(('Baton: this baton server does not support `%s` (update baton)'):format(command), vim.log.levels.ERROR)
    return false
  end
  client:request('workspace/executeCommand', { command = command, arguments = arguments }, function(err, result)
    if err then
      notify(('Baton: %s failed: %s'):format(command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    if on_result then
      on_result(result)
    end
  end, bufnr)
  return true
end

local function report_edit(result)
  if type(result) == 'table' and result.applied == false then
    notify('Baton: edit not applied: ' .. tostring(result.reason or 'no reason given'), vim.log.levels.WARN)
  end
end

---Runs `baton.edit` for `args` ({uri, range, instruction?}); asks for the instruction when missing.
function M.edit_with_instruction(client, args, bufnr)
  local function send(instruction)
    if not instruction or vim.trim(instruction) == '' then
      notify('Baton: edit cancelled (no instruction)')
      return
    end
    local a = vim.deepcopy(args)
    a.instruction = instruction
    M.execute(client, baton().CMD_EDIT, { a }, bufnr, report_edit)
  end
  if args.instruction and vim.trim(args.instruction) ~= '' then
    send(args.instruction)
  else
    vim.ui.input({ prompt = 'Baton: instruction for the selection: ' }, send)
  end
end

---Client-side handler for the `baton.edit` command of code actions (vim.lsp.commands).
function M.edit_command_handler(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if not client then
    return
  end
  local args = (command.arguments or {})[1] or {}
  M.edit_with_instruction(client, args, ctx.bufnr)
end

-- Subcommands ---------------------------------------------------------------------------------

local sub = {}

function sub.status()
  local b = baton()
  local s = b.status()
  if s == '' then
    notify('Baton: not running in this buffer')
    return
  end
  local d = b.status_details() or {}
  local parts = { s }
  if d.provider then
    parts[#parts + 1] = ('(%s %s)'):format(d.provider, d.model or '')
  end
  if d.message then
    parts[#parts + 1] = '— ' .. d.message
  end
  notify(table.concat(parts, ' '))
end

---Formats a `baton/health` result as lines.
function M.format_health(h)
  local lines = {
    ('Baton %s'):format(h.version or '?'),
    ('provider: %s  model: %s  base URL: %s'):format(h.provider or '?', h.model or '?', h.baseUrl or '?'),
    ('model server: %s%s'):format(h.reachable and 'reachable' or 'UNREACHABLE', h.message and (' — ' .. h.message) or ''),
    ('position encoding: %s  open documents: %s'):format(h.positionEncoding or '?', tostring(h.documents)),
  }
  if type(h.counters) == 'table' then
    local keys = vim.tbl_keys(h.counters)
    table.sort(keys)
    local c = {}
    for _, k in ipairs(keys) do
      c[#c + 1] = ('%s=%s'):format(k, tostring(h.counters[k]))
    end
    lines[#lines + 1] = 'counters: ' .. table.concat(c, ' ')
  end
  return lines
end

function sub.health()
  local client = need_client()
  if not client then
    return
  end
  client:request(baton().HEALTH_METHOD, nil, function(err, result)
    if err then
      notify('Baton: baton/health failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    M.last_health = result
    notify(table.concat(M.format_health(result or {}), '\n'))
  end, api.nvim_get_current_buf())
end

---`:[range]Baton edit [instruction]`: rewrite the lines (or the visual selection) with the model.
function sub.edit(cmd)
  local bufnr = api.nvim_get_current_buf()
  local client = need_client(bufnr)
  if not client then
    return
  end
  local s, e
  if cmd.range > 0 then
    local vs, ve = api.nvim_buf_get_mark(bufnr, '<'), api.nvim_buf_get_mark(bufnr, '>')
    if vs[1] == cmd.line1 and ve[1] == cmd.line2 then
      s, e = vs, ve -- the visual selection (characterwise when it was)
    else
      s = { cmd.line1, 0 }
      e = { cmd.line2, math.max(#(api.nvim_buf_get_lines(bufnr, cmd.line2 - 1, cmd.line2, false)[1] or '') - 1, 0) }
    end
  else
    local row = api.nvim_win_get_cursor(0)[1]
    s = { row, 0 }
    e = { row, math.max(#api.nvim_get_current_line() - 1, 0) }
  end
  local range = vim.lsp.util.make_given_range_params(s, e, bufnr, client.offset_encoding).range
  local instruction = table.concat(cmd.fargs, ' ', 2)
  M.edit_with_instruction(client, {
    uri = vim.uri_from_bufnr(bufnr),
    range = range,
    instruction = instruction ~= '' and instruction or nil,
  }, bufnr)
end

function sub.log()
  local file = baton().options.log_file
  if not file then
    notify('Baton: no log file configured (setup{ log_file = ... })', vim.log.levels.WARN)
    return
  end
  if vim.fn.filereadable(file) == 0 then
    notify('Baton: the log file does not exist yet: ' .. file, vim.log.levels.WARN)
    return
  end
  vim.cmd('split ' .. vim.fn.fnameescape(file))
  vim.bo.autoread = true
  vim.cmd('normal! G')
end

function sub.restart()
  baton().restart()
end

-- Tasks (conductor mode) ----------------------------------------------------------------------
-- Extension point: each task subcommand maps to a `baton.task.*` server command. They are thin
-- wrappers; the server side lands later, and until then they fail with a clear message.

M.task_commands = {
  tasks = 'baton.task.list',
  delegate = 'baton.task.delegate',
  review = 'baton.task.review',
  apply = 'baton.task.apply',
  merge = 'baton.task.merge',
  ['request-changes'] = 'baton.task.requestChanges',
  discard = 'baton.task.discard',
}

local function task_label(t)
  if type(t) ~= 'table' then
    return tostring(t)
  end
  return ('%s  [%s]  %s'):format(t.id or '?', t.state or t.status or '?', t.title or t.instruction or '')
end

---Lets the user pick a task (from `baton.task.list`), then calls `on_pick(task)`.
function M.pick_task(client, bufnr, prompt, on_pick)
  M.execute(client, M.task_commands.tasks, {}, bufnr, function(result)
    local tasks = type(result) == 'table' and (result.tasks or result) or {}
    if #tasks == 0 then
      notify('Baton: no tasks')
      return
    end
    vim.ui.select(tasks, { prompt = prompt, format_item = task_label }, function(t)
      if t then
        on_pick(t)
      end
    end)
  end)
end

local function task_action(name)
  return function(cmd)
    local bufnr = api.nvim_get_current_buf()
    local client = need_client(bufnr)
    if not client then
      return
    end
    local command = M.task_commands[name]
    if not M.server_has_command(client, command) then
      notify(('Baton: this baton server does not support `%s` (update baton)'):format(command), vim.log.levels.ERROR)
      return
    end
    local function run(task, extra)
      local arg = vim.tbl_extend('force', { id = type(task) == 'table' and task.id or task }, extra or {})
      M.execute(client, command, { arg }, bufnr, function(result)
        notify(('Baton: %s %s: %s'):format(name, arg.id, type(result) == 'table' and (result.message or vim.inspect(result)) or tostring(result or 'done')))
      end)
    end
    local given = cmd.fargs[2]
    local function with_task(fn)
      if given then
        fn(given)
      else
        M.pick_task(client, bufnr, 'Baton: ' .. name .. ' which task?', fn)
      end
    end
    if name == 'request-changes' then
      with_task(function(task)
        vim.ui.input({ prompt = 'Baton: requested changes: ' }, function(text)
          if text and text ~= '' then
            run(task, { feedback = text })
          end
        end)
      end)
    else
      with_task(run)
    end
  end
end

function sub.tasks()
  local bufnr = api.nvim_get_current_buf()
  local client = need_client(bufnr)
  if not client then
    return
  end
  M.pick_task(client, bufnr, 'Baton: tasks', function(task)
    local actions = { 'review', 'apply', 'merge', 'request-changes', 'discard' }
    vim.ui.select(actions, { prompt = 'Baton: ' .. task_label(task) }, function(action)
      if action then
        task_action(action)({ fargs = { action, task.id } })
      end
    end)
  end)
end

function sub.delegate(cmd)
  local bufnr = api.nvim_get_current_buf()
  local client = need_client(bufnr)
  if not client then
    return
  end
  local command = M.task_commands.delegate
  if not M.server_has_command(client, command) then
    notify(('Baton: this baton server does not support `%s` (update baton)'):format(command), vim.log.levels.ERROR)
    return
  end
  local function send(instruction)
    if not instruction or instruction == '' then
      return
    end
    M.execute(client, command, { { uri = vim.uri_from_bufnr(bufnr), instruction = instruction } }, bufnr, function(result)
      notify('Baton: delegated: ' .. (type(result) == 'table' and tostring(result.id or vim.inspect(result)) or tostring(result)))
    end)
  end
  local given = table.concat(cmd.fargs, ' ', 2)
  if given ~= '' then
    send(given)
  else
    vim.ui.input({ prompt = 'Baton: task for an agent: ' }, send)
  end
end

for _, name in ipairs({ 'review', 'apply', 'merge', 'request-changes', 'discard' }) do
  sub[name] = task_action(name)
end

M.subcommands = sub

function M.run(cmd)
  local name = cmd.fargs[1] or 'status'
  local fn = sub[name]
  if not fn then
    notify('Baton: unknown subcommand `' .. name .. '`; try ' .. table.concat(M.names(), ', '), vim.log.levels.ERROR)
    return
  end
  fn(cmd)
end

function M.names()
  local names = vim.tbl_keys(sub)
  table.sort(names)
  return names
end

function M.setup()
  vim.lsp.commands[baton().CMD_EDIT] = M.edit_command_handler
  api.nvim_create_user_command('Baton', M.run, {
    nargs = '*',
    range = true,
    desc = 'Baton: status, health, edit, log, restart, tasks…',
    complete = function(arglead, line)
      if #vim.split(line, '%s+', { trimempty = false }) > 2 then
        return {}
      end
      return vim.tbl_filter(function(n)
        return vim.startswith(n, arglead)
      end, M.names())
    end,
  })
end

return M
