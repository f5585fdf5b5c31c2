-- baton.commands: the `:Baton` user command and its subcommands (status, health, edit, panel,
-- log, restart; delegate, tasks and the task / pull request actions of orchestrator mode), plus the
-- client-side handlers for the commands that code actions carry: `baton.edit` and
-- `baton.task.start` ask with vim.ui.input first, `baton.pr.*` show their result or error.
-- Every request here is asynchronous: nothing waits on the server.

---A `:Baton` subcommand for a task action: the action's id (protocol.json `taskActions`) and its
---server command with `{ id }`. Which tasks allow it is the server's answer (`task.actions`).
---@class (exact) baton.TaskAction
---@field name string the `:Baton` subcommand, the action's id
---@field command string the server command
---@field verb string how messages name it

---The `baton/health` result (server/handlers/health.rs).
---@class baton.Health
---@field version? string
---@field provider? string
---@field model? string
---@field baseUrl? string
---@field state? 'unknown'|'ok'|'slow'|'unreachable'|'error' the model server's state
---@field reachable? boolean
---@field checking? boolean a check of the model server is running
---@field message? string
---@field positionEncoding? string
---@field documents? integer
---@field counters? table<string, integer>

local M = {}

local api = vim.api

local function baton()
  return require('baton')
end

---@param msg string
---@param level? integer vim.log.levels.*
local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = 'Baton' })
end

---The Baton client for the current buffer, or nil after telling the user why.
---@param bufnr? integer
---@return vim.lsp.Client?
local function need_client(bufnr)
  local client = baton().client(bufnr or api.nvim_get_current_buf())
  if not client then
    notify('Baton: no Baton language server is running for this buffer (see :checkhealth baton)', vim.log.levels.WARN)
  end
  return client
end

---True when the server lists `command` in executeCommandProvider.
---@param client vim.lsp.Client
---@param command string
---@return boolean
function M.server_has_command(client, command)
  local p = client.server_capabilities and client.server_capabilities.executeCommandProvider
  return type(p) == 'table' and vim.list_contains(p.commands or {}, command)
end

---Sends workspace/executeCommand (async). `on_result(result)` runs on success; errors are
---reported to the user. Fails with a clear message when the server lacks the command.
---@param client vim.lsp.Client
---@param command string
---@param arguments any[]
---@param bufnr? integer
---@param on_result? fun(result: any)
---@return boolean sent false when the server lacks the command
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

---Runs `baton.edit` for `args`; asks for the instruction when missing.
---@param client vim.lsp.Client
---@param args { uri: string, range: lsp.Range, instruction?: string }
---@param bufnr? integer
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
---@param command lsp.Command
---@param ctx { client_id: integer, bufnr: integer }
function M.edit_command_handler(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if not client then
    return
  end
  ---@type { uri: string, range: lsp.Range, instruction?: string }
  local args = vim.tbl_get(command, 'arguments', 1) or {}
  M.edit_with_instruction(client, args, ctx.bufnr)
end

-- Subcommands ---------------------------------------------------------------------------------

---`:Baton` subcommands by name.
---@type table<string, fun(cmd: vim.api.keyset.create_user_command.command_args)>
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

-- How the model server's `state` reads; other states read as reachable or UNREACHABLE.
local server_states = { slow = 'reachable but SLOW', unknown = 'not checked yet' }

---Formats a `baton/health` result as lines.
---@param h baton.Health
---@return string[]
function M.format_health(h)
  local server = server_states[h.state] or (h.reachable == true and 'reachable' or 'UNREACHABLE')
  if h.checking == true then
    server = server .. ' (still checking)'
  end
  local message = type(h.message) == 'string' and (' — ' .. h.message) or ''
  local lines = {
    ('Baton %s'):format(h.version or '?'),
    ('provider: %s  model: %s  base URL: %s'):format(h.provider or '?', h.model or '?', h.baseUrl or '?'),
    ('model server: %s%s'):format(server, message),
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
  ---@cast s [integer, integer]
  ---@cast e [integer, integer]
  local range = vim.lsp.util.make_given_range_params(s, e, bufnr, client.offset_encoding --[[@as baton.Encoding]]).range
  local instruction = table.concat(cmd.fargs, ' ', 2)
  M.edit_with_instruction(client, {
    uri = vim.uri_from_bufnr(bufnr),
    range = range,
    instruction = instruction ~= '' and instruction or nil,
  }, bufnr)
end

---The diagnostics of every source (other servers, linters) on lines `first`..`last` (1-based)
---of `bufnr`, as LSP diagnostics. Neovim 0.11 sends each server only its own diagnostics in a
---code action request, and Baton publishes none: this is how its "fix with the model" sees them.
---@param bufnr integer
---@param first integer
---@param last integer
---@return lsp.Diagnostic[]
function M.diagnostics_for_lines(bufnr, first, last)
  local found = {}
  for lnum = first - 1, last - 1 do
    vim.list_extend(found, vim.diagnostic.get(bufnr, { lnum = lnum }))
  end
  return vim.lsp.diagnostic.from(found)
end

---`:[range]Baton fix`: Baton's code actions for the cursor line (or [range]) with the diagnostics
---every source put there, so "Baton: fix with the model: …" is offered for them.
function sub.fix(cmd)
  local bufnr = api.nvim_get_current_buf()
  local client = need_client(bufnr)
  if not client then
    return
  end
  local row = api.nvim_win_get_cursor(0)[1]
  local first = math.floor(cmd.range == 0 and row or cmd.line1)
  local last = math.floor(cmd.range == 0 and row or cmd.line2)
  local diagnostics = M.diagnostics_for_lines(bufnr, first, last)
  if #diagnostics == 0 then
    notify(('Baton: no diagnostics on line %s'):format(first == last and first or (first .. '-' .. last)))
    return
  end
  local last_text = api.nvim_buf_get_lines(bufnr, last - 1, last, false)[1] or ''
  vim.lsp.buf.code_action({
    context = { diagnostics = diagnostics, only = { 'quickfix' } },
    range = { start = { first, 0 }, ['end'] = { last, math.max(#last_text - 1, 0) } },
    -- Only Baton's actions (Neovim 0.11 passes the action alone, not its client).
    filter = function(action)
      local c = action.command
      local name = type(c) == 'table' and c.command or c
      return type(name) == 'string' and vim.startswith(name, 'baton.')
    end,
  })
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

---`:Baton panel [count]`: up to `count` (default 10) suggestions at the cursor in a split.
function sub.panel(cmd)
  local count = cmd.fargs[2] and tonumber(cmd.fargs[2]) --[[@as integer?]]
  if cmd.fargs[2] and not count then
    notify('Baton: `:Baton panel [count]` takes a number from 1 to 10', vim.log.levels.ERROR)
    return
  end
  require('baton.panel').open(count)
end

-- Tasks and pull requests (orchestrator mode) -------------------------------------------------
-- Each action maps to one `baton.task.*` / `baton.pr.*` server command with `{ id }`. The same
-- functions serve `:Baton <action> [id]`, the `:Baton tasks` picker and the commands that
-- Baton's code actions carry (client-side handlers, so results and errors are shown and
-- prompts go through vim.ui.input instead of the server's showMessageRequest presets).

---The task actions as `:Baton` subcommands, in the order of protocol.json's `taskActions`.
---@type baton.TaskAction[]
M.actions = {
  { name = 'review', command = 'baton.pr.review', verb = 'review' },
  { name = 'apply', command = 'baton.pr.apply', verb = 'apply' },
  { name = 'merge', command = 'baton.pr.merge', verb = 'merge' },
  { name = 'request-changes', command = 'baton.pr.requestChanges', verb = 'request changes to' },
  { name = 'approve-plan', command = 'baton.task.approvePlan', verb = 'approve the plan of' },
  { name = 'answer', command = 'baton.task.answer', verb = 'answer the agent of' },
  { name = 'resume', command = 'baton.task.resume', verb = 'resume' },
  { name = 'show', command = 'baton.task.show', verb = 'show' },
  { name = 'discard', command = 'baton.pr.discard', verb = 'discard' },
}
---@type table<string, baton.TaskAction>, table<string, baton.TaskAction>
local action_by_name, action_by_command = {}, {}
for _, a in ipairs(M.actions) do
  action_by_name[a.name] = a
  action_by_command[a.command] = a
end
M.action_by_name = action_by_name

---Whether the server says `task` allows the action `id`.
---@param task baton.TaskSummary
---@param id string
---@return boolean
function M.task_allows(task, id)
  for _, a in ipairs(type(task.actions) == 'table' and task.actions or {}) do
    if a.id == id then
      return true
    end
  end
  return false
end

---Whether `task` is still open: the server offers more than showing it.
---@param task baton.TaskSummary
---@return boolean
local function is_open(task)
  for _, a in ipairs(type(task.actions) == 'table' and task.actions or {}) do
    if a.id ~= 'show' then
      return true
    end
  end
  return false
end

---One line for a task: `#3 ready  Add fn added  (+1 -0 in 1 file, checks pass)`.
---@param t baton.TaskSummary|any
---@return string
function M.task_label(t)
  if type(t) ~= 'table' then
    return tostring(t)
  end
  local s = ('#%s %s  %s'):format(tostring(t.id), t.state or '?', t.title or '')
  local extra = {}
  if t.diffStat then
    extra[#extra + 1] = t.diffStat
  end
  if t.checks then
    extra[#extra + 1] = 'checks ' .. t.checks
  end
  if #extra == 0 and t.message and t.message ~= '' then
    extra[1] = t.message
  end
  if #extra > 0 then
    s = s .. '  (' .. table.concat(extra, ', ') .. ')'
  end
  return s
end

---A task id from `12` or `#12` (nil when it is neither).
---@param s string|number
---@return number?
local function parse_id(s)
  return tonumber(type(s) == 'string' and s:match('^#?(%d+)$') or s)
end

---Fetches the task list (`baton.task.list`) and calls `on_tasks(tasks)`.
---@param client vim.lsp.Client
---@param bufnr? integer
---@param on_tasks fun(tasks: baton.TaskSummary[])
---@return boolean sent
function M.list_tasks(client, bufnr, on_tasks)
  return M.execute(client, baton().CMD_TASK_LIST, {}, bufnr, function(result)
    on_tasks(type(result) == 'table' and (result.tasks or result) or {})
  end)
end

---Lets the user pick a task (from `baton.task.list`) for which `filter(task)` is true, then
---calls `on_pick(task)`. Says so when there is none.
---@param client vim.lsp.Client
---@param bufnr? integer
---@param prompt string
---@param filter? fun(task: baton.TaskSummary): boolean
---@param on_pick fun(task: baton.TaskSummary)
---@param none_message? string
function M.pick_task(client, bufnr, prompt, filter, on_pick, none_message)
  M.list_tasks(client, bufnr, function(tasks)
    tasks = vim.tbl_filter(filter or function()
      return true
    end, tasks)
    if #tasks == 0 then
      notify(none_message or 'Baton: no tasks')
      return
    end
    vim.ui.select(tasks, { prompt = prompt, format_item = M.task_label, kind = 'baton_task' }, function(t)
      if t then
        on_pick(t)
      end
    end)
  end)
end

---The lines of `baton.task.show`'s result: the server's rendered `details`, as is.
---@param d table<string, any>
---@return string[]
function M.format_task_details(d)
  if type(d.details) == 'string' then
    return vim.split(d.details:gsub('\n$', ''), '\n', { plain = true })
  end
  -- A server from before `details`: its raw answer.
  return vim.split(vim.inspect(d), '\n', { plain = true })
end

---Task detail buffers that follow their task: buffer → { client_id, id, pending, again }.
---@type table<integer, { client_id: integer, id: integer, pending: boolean, again: boolean }>
local live = {}

---Writes `details` into the task buffer `buf`; windows whose cursor was on the last line follow
---the end (like `tail -f`).
---@param buf integer
---@param details table<string, any>
local function fill_task_buffer(buf, details)
  local last = api.nvim_buf_line_count(buf)
  local following = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    following[win] = api.nvim_win_get_cursor(win)[1] >= last
  end
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, M.format_task_details(details))
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
  local count = api.nvim_buf_line_count(buf)
  for win, follow in pairs(following) do
    if follow and api.nvim_win_is_valid(win) then
      api.nvim_win_set_cursor(win, { count, 0 })
    end
  end
end

---Fetches task details again for the live buffer `buf` (one request in flight per buffer).
---@param buf integer
local function refresh(buf)
  local l = live[buf]
  if not l then
    return
  end
  if not api.nvim_buf_is_valid(buf) then
    live[buf] = nil
    return
  end
  if l.pending then
    l.again = true
    return
  end
  local client = vim.lsp.get_client_by_id(l.client_id)
  if not client then
    return
  end
  l.pending = true
  M.execute(client, baton().CMD_TASK_SHOW, { { id = l.id } }, nil, function(result)
    l.pending = false
    if api.nvim_buf_is_valid(buf) and type(result) == 'table' then
      fill_task_buffer(buf, result)
    end
    if l.again then
      l.again = false
      refresh(buf)
    end
  end)
end

-- Every baton/tasks notification (a state change or a step of a running task) refreshes the
-- open task buffers.
api.nvim_create_autocmd('User', {
  group = api.nvim_create_augroup('baton.task_buffers', { clear = true }),
  pattern = 'BatonTasks',
  callback = function()
    for buf in pairs(live) do
      refresh(buf)
    end
  end,
})

---Shows task details in a scratch buffer `baton://task/<id>` (`q` closes it). With `client`,
---the buffer follows the task: each `baton/tasks` notification fetches the details again, so a
---running task's log grows in it.
---@param details table<string, any> `baton.task.show`'s result
---@param client? vim.lsp.Client
---@return integer bufnr
function M.show_task_buffer(details, client)
  local id = details.task and details.task.id or '?'
  local name = 'baton://task/' .. tostring(id)
  local buf = vim.fn.bufnr(name)
  if buf == -1 then
    buf = api.nvim_create_buf(true, true)
    api.nvim_buf_set_name(buf, name)
  end
  fill_task_buffer(buf, details)
  vim.bo[buf].filetype = 'batontask'
  vim.keymap.set('n', 'q', '<Cmd>close<CR>', { buffer = buf, desc = 'Baton: close the task details' })
  if client and type(id) == 'number' then
    live[buf] = { client_id = client.id, id = math.floor(id), pending = false, again = false }
    api.nvim_create_autocmd('BufWipeout', {
      buffer = buf,
      once = true,
      callback = function()
        live[buf] = nil
      end,
    })
  end
  local win = vim.fn.bufwinid(buf)
  if win ~= -1 then
    api.nvim_set_current_win(win)
  else
    vim.cmd('split')
    api.nvim_win_set_buf(0, buf)
  end
  return buf
end

---Runs task action `name` (see M.actions) on task `id`. `extra` is merged into the argument
---(e.g. { feedback = ... }); request-changes asks for the feedback when it is missing.
---@param client vim.lsp.Client
---@param name string
---@param id number
---@param bufnr? integer
---@param extra? table<string, any>
function M.run_action(client, name, id, bufnr, extra)
  local action = action_by_name[name]
  if not action then
    notify('Baton: unknown task action `' .. tostring(name) .. '`', vim.log.levels.ERROR)
    return
  end
  local arg = vim.tbl_extend('force', { id = id }, extra or {})
  if name == 'request-changes' and (not arg.feedback or vim.trim(arg.feedback) == '') then
    vim.ui.input({ prompt = ('Baton: changes to request for PR #%s: '):format(tostring(id)) }, function(text)
      if text and vim.trim(text) ~= '' then
        M.run_action(client, name, id, bufnr, { feedback = text })
      else
        notify('Baton: request changes cancelled (no feedback)')
      end
    end)
    return
  end
  if name == 'answer' and arg.answer ~= 'allow' and arg.answer ~= 'reject' then
    -- The agent's question is the task's message (baton/tasks); the server takes allow|reject.
    local prompt = ('Baton: answer the agent of task #%s'):format(tostring(id))
    vim.ui.select({ 'allow', 'reject' }, { prompt = prompt }, function(choice)
      if choice then
        M.run_action(client, name, id, bufnr, { answer = choice })
      end
    end)
    return
  end
  if name == 'review' then
    -- Neovim's own diff view in a new tab, not the server's `.diff` (whose showDocument would
    -- replace the current window's buffer).
    M.execute(client, baton().CMD_TASK_SHOW, { arg }, bufnr, function(result)
      M.last_review = require('baton.review').show(type(result) == 'table' and result or {})
    end)
    return
  end
  M.execute(client, action.command, { arg }, bufnr, function(result)
    result = type(result) == 'table' and result or {}
    if name == 'show' then
      M.show_task_buffer(result, client)
    elseif name == 'apply' then
      notify(
        ('Baton: applied PR #%s to the working tree (not saved yet; u undoes it); it stays open until you merge or discard it'):format(
          tostring(id)
        )
      )
    elseif name == 'merge' then
      -- The merge changed files on disk: reload the buffers that show them.
      pcall(vim.cmd.checktime)
      notify(
        ('Baton: merged PR #%s as %s%s'):format(
          tostring(id),
          tostring(result.commit or '?'):sub(1, 12),
          result.signedOffBy and (' (Signed-off-by: ' .. result.signedOffBy .. ')') or ''
        )
      )
    elseif name == 'request-changes' then
      notify(('Baton: sent the requested changes to task #%s'):format(tostring(id)))
    elseif name == 'discard' then
      notify(('Baton: discarded task #%s'):format(tostring(id)))
    elseif name == 'approve-plan' then
      notify(('Baton: approved the plan of task #%s'):format(tostring(id)))
    elseif name == 'resume' then
      notify(('Baton: resumed task #%s'):format(tostring(id)))
    elseif name == 'answer' then
      notify(('Baton: answered the agent of task #%s (%s)'):format(tostring(id), tostring(arg.answer)))
    end
  end)
end

---Offers the actions the server says `task` allows (vim.ui.select), then runs the chosen one.
---@param client vim.lsp.Client
---@param task baton.TaskSummary
---@param bufnr? integer
function M.task_menu(client, task, bufnr)
  local actions = vim.tbl_filter(function(a)
    return type(a) == 'table' and action_by_name[a.id] ~= nil
  end, type(task.actions) == 'table' and task.actions or {})
  vim.ui.select(actions, {
    prompt = 'Baton: ' .. M.task_label(task),
    kind = 'baton_task_action',
    format_item = function(a)
      return a.title
    end,
  }, function(a)
    if a then
      M.run_action(client, a.id, task.id, bufnr)
    end
  end)
end

---@param name string a task action's name
---@return fun(cmd: vim.api.keyset.create_user_command.command_args)
local function task_subcommand(name)
  return function(cmd)
    local bufnr = api.nvim_get_current_buf()
    local client = need_client(bufnr)
    if not client then
      return
    end
    local action = action_by_name[name]
    if not M.server_has_command(client, action.command) then
      M.execute(client, action.command, {}, bufnr) -- says the server lacks it
      return
    end
    local given = cmd.fargs[2]
    if given then
      local id = parse_id(given)
      if not id then
        notify(('Baton: `%s` is not a task id (try :Baton tasks)'):format(given), vim.log.levels.ERROR)
        return
      end
      M.run_action(
        client,
        name,
        id,
        bufnr,
        name == 'request-changes' and cmd.fargs[3] and { feedback = table.concat(cmd.fargs, ' ', 3) }
          or name == 'answer' and cmd.fargs[3] and { answer = cmd.fargs[3] }
          or nil
      )
      return
    end
    M.pick_task(client, bufnr, ('Baton: %s which task?'):format(action.verb), function(t)
      return M.task_allows(t, name)
    end, function(t)
      M.run_action(client, name, t.id, bufnr)
    end, ('Baton: no task to %s'):format(action.verb))
  end
end

---`:Baton tasks [all]`: pick a task (not finished ones unless `all`), then one of its actions.
function sub.tasks(cmd)
  local bufnr = api.nvim_get_current_buf()
  local client = need_client(bufnr)
  if not client then
    return
  end
  local all = cmd.fargs[2] == 'all'
  M.pick_task(client, bufnr, 'Baton: tasks', function(t)
    return all or is_open(t)
  end, function(t)
    M.task_menu(client, t, bufnr)
  end, all and 'Baton: no tasks' or 'Baton: no open tasks (:Baton tasks all lists finished ones)')
end

---Asks for the prompt (prefilled with `args.prompt`) and sends `baton.task.start` with `args`;
---`args.confirmed` sends a given prompt without asking.
---@param client vim.lsp.Client
---@param args { prompt?: string, uri?: string, range?: lsp.Range, agent?: string, confirmed?: boolean }
---@param bufnr? integer
function M.delegate(client, args, bufnr)
  local function send(prompt)
    if not prompt or vim.trim(prompt) == '' then
      notify('Baton: delegation cancelled (no prompt)')
      return
    end
    local a = vim.deepcopy(args)
    a.prompt = prompt
    M.execute(client, baton().CMD_TASK_START, { a }, bufnr, function(result)
      local id = type(result) == 'table' and result.id or result
      M.last_started = id
      notify(
        ('Baton: task #%s started (%s; :Baton tasks to follow it)'):format(
          tostring(id),
          a.agent and ('agent ' .. a.agent) or 'default agent'
        )
      )
    end)
  end
  if args.prompt and vim.trim(args.prompt) ~= '' and args.confirmed then
    args.confirmed = nil
    send(args.prompt)
  else
    args.confirmed = nil
    vim.ui.input({ prompt = 'Baton: task for a background agent: ', default = args.prompt }, send)
  end
end

---`:[range]Baton delegate [--agent=NAME] [prompt]`: hand a task to a background agent with
---the buffer (and the range or visual selection) as context. `--agent=` with no name lists the
---agents (`baton/agents`: the built-in presets and the profiles) to pick one.
function sub.delegate(cmd)
  local bufnr = api.nvim_get_current_buf()
  local client = need_client(bufnr)
  if not client then
    return
  end
  if not M.server_has_command(client, baton().CMD_TASK_START) then
    M.execute(client, baton().CMD_TASK_START, {}, bufnr) -- says the server lacks it
    return
  end
  local words = vim.list_slice(cmd.fargs, 2)
  local args = {}
  if words[1] and words[1]:match('^%-%-agent=') then
    args.agent = table.remove(words, 1):match('^%-%-agent=(.*)$')
  end
  local choose = args.agent == ''
  args.agent = (args.agent ~= '') and args.agent or nil
  if api.nvim_buf_get_name(bufnr) ~= '' and vim.bo[bufnr].buftype == '' then
    args.uri = vim.uri_from_bufnr(bufnr)
    if cmd.range > 0 then
      local s, e
      local vs, ve = api.nvim_buf_get_mark(bufnr, '<'), api.nvim_buf_get_mark(bufnr, '>')
      if vs[1] == cmd.line1 and ve[1] == cmd.line2 then
        s, e = vs, ve
      else
        s = { cmd.line1, 0 }
        e = { cmd.line2, math.max(#(api.nvim_buf_get_lines(bufnr, cmd.line2 - 1, cmd.line2, false)[1] or '') - 1, 0) }
      end
      ---@cast s [integer, integer]
      ---@cast e [integer, integer]
      args.range =
        vim.lsp.util.make_given_range_params(s, e, bufnr, client.offset_encoding --[[@as baton.Encoding]]).range
    end
  end
  local prompt = table.concat(words, ' ')
  if prompt ~= '' then
    args.prompt = prompt
    args.confirmed = true
  end
  if not choose then
    M.delegate(client, args, bufnr)
    return
  end
  notify('Baton: looking for the installed agents…')
  client:request(baton().AGENTS_METHOD, vim.NIL, function(err, agents)
    if err or type(agents) ~= 'table' then
      notify('Baton: could not list the agents: ' .. (err and err.message or 'no answer'), vim.log.levels.ERROR)
      return
    end
    vim.ui.select(agents, {
      prompt = 'Baton: delegate to which agent?',
      format_item = function(a)
        return ('%s (%s, %s)'):format(a.name, a.kind, a.state)
      end,
    }, function(choice)
      if not choice then
        notify('Baton: delegation cancelled (no agent)')
        return
      end
      args.agent = choice.name
      M.delegate(client, args, bufnr)
    end)
  end, bufnr)
end

for _, a in ipairs(M.actions) do
  sub[a.name] = task_subcommand(a.name)
end

---Client-side handlers for the commands Baton's code actions carry (vim.lsp.commands).
---@param command lsp.Command
---@param ctx { client_id: integer, bufnr: integer }
local function code_action_handler(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if not client then
    return
  end
  -- `baton.task.start` carries a prompt and its context, the others a task id.
  ---@type { id: integer, feedback?: string, prompt?: string, uri?: string, range?: lsp.Range, agent?: string }
  local args = vim.tbl_get(command, 'arguments', 1) or {}
  if command.command == baton().CMD_TASK_START then
    M.delegate(client, vim.deepcopy(args), ctx.bufnr)
    return
  end
  local action = action_by_command[command.command]
  local extra = args.feedback and { feedback = args.feedback } or nil
  M.run_action(client, action.name, args.id, ctx.bufnr, extra)
end
M.code_action_handler = code_action_handler

M.subcommands = sub

---`:Baton {subcommand} ...` (status when none is given).
---@param cmd vim.api.keyset.create_user_command.command_args
function M.run(cmd)
  local name = cmd.fargs[1] or 'status'
  local fn = sub[name]
  if not fn then
    notify('Baton: unknown subcommand `' .. name .. '`; try ' .. table.concat(M.names(), ', '), vim.log.levels.ERROR)
    return
  end
  fn(cmd)
end

---The subcommands' names, sorted.
---@return string[]
function M.names()
  local names = vim.tbl_keys(sub)
  table.sort(names)
  return names
end

---Completion of `:Baton`: subcommands, then task ids (from the last `baton/tasks`) for the
---task actions, `all` for `tasks`, `--agent=` for `delegate`.
---@param arglead string
---@param line string
---@return string[]
function M.complete(arglead, line)
  local words = vim.split(line:gsub('^%s*%S*Baton!?%s*', ''), '%s+', { trimempty = false })
  if #words <= 1 then
    return vim.tbl_filter(function(n)
      return vim.startswith(n, arglead)
    end, M.names())
  end
  if #words > 2 then
    return {}
  end
  local name = words[1]
  local candidates = {}
  if name == 'tasks' then
    candidates = { 'all' }
  elseif name == 'delegate' then
    local cfg = baton().options.settings or {}
    for _, a in ipairs(type(cfg.agents) == 'table' and cfg.agents or {}) do
      if a.name then
        candidates[#candidates + 1] = '--agent=' .. a.name
      end
    end
    candidates[#candidates + 1] = '--agent='
  elseif action_by_name[name] then
    local t = baton().tasks_details() or {}
    for _, task in ipairs(t.tasks or {}) do
      if M.task_allows(task, name) then
        candidates[#candidates + 1] = tostring(task.id)
      end
    end
  end
  return vim.tbl_filter(function(n)
    return vim.startswith(n, arglead)
  end, candidates)
end

---Registers `:Baton` and the client-side handlers of Baton's commands.
function M.setup()
  vim.lsp.commands[baton().CMD_EDIT] = M.edit_command_handler
  vim.lsp.commands[baton().CMD_TASK_START] = M.code_action_handler
  for _, a in ipairs(M.actions) do
    vim.lsp.commands[a.command] = M.code_action_handler
  end
  api.nvim_create_user_command('Baton', M.run, {
    nargs = '*',
    range = true,
    desc = 'Baton: status, health, edit, panel, log, restart, delegate, tasks, review, apply, merge…',
    complete = M.complete,
  })
end

return M
