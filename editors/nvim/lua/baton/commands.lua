-- baton.commands: the `:Baton` user command and its subcommands (status, health, edit, log,
-- restart; delegate, tasks and the task / pull request actions of orchestrator mode), plus the
-- client-side handlers for the commands that code actions carry: `baton.edit` and
-- `baton.task.start` ask with vim.ui.input first, `baton.pr.*` show their result or error.
-- Every request here is asynchronous: nothing waits on the server.

---An action on a task: one `baton.task.*` / `baton.pr.*` server command with `{ id }`.
---@class (exact) baton.TaskAction
---@field name string the `:Baton` subcommand
---@field command string the server command
---@field label string what the picker shows
---@field states? table<string, true> task states it applies to (nil: every state that is not final)
---@field all? true applies in every state, final ones too

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

-- Tasks and pull requests (orchestrator mode) -------------------------------------------------
-- Each action maps to one `baton.task.*` / `baton.pr.*` server command with `{ id }`. The same
-- functions serve `:Baton <action> [id]`, the `:Baton tasks` picker and the commands that
-- Baton's code actions carry (client-side handlers, so results and errors are shown and
-- prompts go through vim.ui.input instead of the server's showMessageRequest presets).

-- `applied` only in databases of servers from before Apply kept the pull request open.
local FINAL = { merged = true, applied = true, discarded = true }

---The actions on a task, in the order the picker offers them.
---@type baton.TaskAction[]
M.actions = {
  { name = 'review', command = 'baton.pr.review', label = 'Review (open the diff)', states = { ready = true } },
  { name = 'apply', command = 'baton.pr.apply', label = 'Apply to working tree', states = { ready = true } },
  { name = 'merge', command = 'baton.pr.merge', label = 'Merge into the current branch', states = { ready = true } },
  {
    name = 'request-changes',
    command = 'baton.pr.requestChanges',
    label = 'Request changes…',
    states = { ready = true },
  },
  {
    name = 'approve-plan',
    command = 'baton.task.approvePlan',
    label = 'Approve plan',
    states = { awaiting_plan_approval = true },
  },
  { name = 'resume', command = 'baton.task.resume', label = 'Resume', states = { failed = true, interrupted = true } },
  { name = 'show', command = 'baton.task.show', label = 'Show details', all = true },
  { name = 'discard', command = 'baton.pr.discard', label = 'Discard' },
}
---@type table<string, baton.TaskAction>, table<string, baton.TaskAction>
local action_by_name, action_by_command = {}, {}
for _, a in ipairs(M.actions) do
  action_by_name[a.name] = a
  action_by_command[a.command] = a
end
M.action_by_name = action_by_name

---Whether `action` applies to a task in `state`.
---@param action baton.TaskAction
---@param state string
---@return boolean
function M.action_applies(action, state)
  if action.all then
    return true
  end
  if FINAL[state] then
    return false
  end
  return action.states == nil or action.states[state] == true
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

---Writes `baton.task.show`'s result ({ task, log, pull_request, signoffs }) as lines.
---@param d table<string, any>
---@return string[]
function M.format_task_details(d)
  local t = d.task or {}
  local lines = {}
  local function add(s)
    for _, l in ipairs(vim.split(tostring(s), '\n', { plain = true })) do
      lines[#lines + 1] = l
    end
  end
  local function when(ms)
    return type(ms) == 'number' and os.date('%Y-%m-%d %H:%M:%S', math.floor(ms / 1000)) or '?'
  end
  add(('Task #%s: %s'):format(tostring(t.id), vim.split(t.prompt or '', '\n')[1] or ''))
  add(('state: %s   agent: %s'):format(t.state or '?', t.agent or '?'))
  if t.branch then
    add('branch: ' .. t.branch)
  end
  if t.worktree then
    add('worktree: ' .. t.worktree)
  end
  if t.repo_root then
    add('repository: ' .. t.repo_root)
  end
  add(
    ('created: %s   updated: %s   tokens: %s'):format(when(t.created_ms), when(t.updated_ms), tostring(t.tokens or 0))
  )
  if t.error and t.error ~= vim.NIL then
    add('error: ' .. t.error)
  end
  if (t.prompt or ''):find('\n') then
    add('')
    add('Prompt:')
    add(t.prompt)
  end
  if t.plan and t.plan ~= vim.NIL then
    add('')
    add(
      ('Plan (%s):'):format(
        t.plan_approved and 'approved' or 'awaiting approval: :Baton approve-plan ' .. tostring(t.id)
      )
    )
    add(t.plan)
  end
  local pr = d.pull_request
  if type(pr) == 'table' then
    local st = pr.stat or {}
    add('')
    add('Pull request: ' .. (pr.title or ''))
    add(
      ('  +%s -%s in %s file(s); checks: %s%s'):format(
        tostring(st.insertions or 0),
        tostring(st.deletions or 0),
        tostring(st.files_changed or 0),
        tostring(pr.check or 'none'),
        (type(pr.check_command) == 'string') and (' (' .. pr.check_command .. ')') or ''
      )
    )
    add(
      ('  branch %s, base %s, head %s'):format(
        pr.branch or '?',
        (pr.base_commit or '?'):sub(1, 12),
        (pr.head_commit or '?'):sub(1, 12)
      )
    )
    for _, f in ipairs(pr.files or {}) do
      local ranges = {}
      for _, r in ipairs(f.ranges or {}) do
        ranges[#ranges + 1] = ('%d-%d'):format(r.new_start, r.new_start + math.max(r.new_count, 1) - 1)
      end
      add(('  %s (lines %s)'):format(f.path, table.concat(ranges, ', ')))
    end
    if type(pr.github_url) == 'string' then
      add('  GitHub: ' .. pr.github_url)
    end
    if pr.description and pr.description ~= '' then
      add('')
      add('Description:')
      add(pr.description)
    end
    if pr.check_output and pr.check_output ~= '' then
      add('')
      add('Check output:')
      add(pr.check_output)
    end
  end
  if type(d.signoffs) == 'table' and #d.signoffs > 0 then
    add('')
    add('Sign-offs:')
    for _, s in ipairs(d.signoffs) do
      add(
        ('  %s by %s at %s (head %s, checks %s)'):format(
          s.action or '?',
          s.who or '?',
          when(s.when_ms),
          (s.head_commit or '?'):sub(1, 12),
          tostring(s.checks or 'none')
        )
      )
    end
  end
  if type(d.log) == 'table' and #d.log > 0 then
    add('')
    add('Log:')
    for _, l in ipairs(d.log) do
      add(
        ('  %s  %s'):format(
          type(l.time_ms) == 'number' and os.date('%H:%M:%S', math.floor(l.time_ms / 1000)) or '',
          l.line or ''
        )
      )
    end
  end
  return lines
end

---Shows task details in a scratch buffer `baton://task/<id>` (`q` closes it).
---@param details table<string, any> `baton.task.show`'s result
---@return integer bufnr
function M.show_task_buffer(details)
  local id = details.task and details.task.id or '?'
  local name = 'baton://task/' .. tostring(id)
  local buf = vim.fn.bufnr(name)
  if buf == -1 then
    buf = api.nvim_create_buf(true, true)
    api.nvim_buf_set_name(buf, name)
  end
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, M.format_task_details(details))
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
  vim.bo[buf].filetype = 'batontask'
  vim.keymap.set('n', 'q', '<Cmd>close<CR>', { buffer = buf, desc = 'Baton: close the task details' })
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
  M.execute(client, action.command, { arg }, bufnr, function(result)
    result = type(result) == 'table' and result or {}
    if name == 'show' then
      M.show_task_buffer(result)
    elseif name == 'review' then
      -- The server opens the diff with window/showDocument; open it here if that did not happen.
      if type(result.uri) == 'string' then
        local fname = vim.uri_to_fname(result.uri)
        if vim.fn.bufloaded(fname) == 0 then
          vim.cmd('split ' .. vim.fn.fnameescape(fname))
        end
        notify(('Baton: reviewing PR #%s: %s'):format(tostring(id), vim.fn.fnamemodify(fname, ':~')))
      end
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
    end
  end)
end

---Offers the actions that apply to `task` (vim.ui.select), then runs the chosen one.
---@param client vim.lsp.Client
---@param task baton.TaskSummary
---@param bufnr? integer
function M.task_menu(client, task, bufnr)
  local actions = vim.tbl_filter(function(a)
    return M.action_applies(a, task.state)
  end, M.actions)
  vim.ui.select(actions, {
    prompt = 'Baton: ' .. M.task_label(task),
    kind = 'baton_task_action',
    format_item = function(a)
      return a.label
    end,
  }, function(a)
    if a then
      M.run_action(client, a.name, task.id, bufnr)
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
        name == 'request-changes' and cmd.fargs[3] and { feedback = table.concat(cmd.fargs, ' ', 3) } or nil
      )
      return
    end
    M.pick_task(client, bufnr, ('Baton: %s which task?'):format(action.label:gsub('…$', ''):lower()), function(t)
      return M.action_applies(action, t.state)
    end, function(t)
      M.run_action(client, name, t.id, bufnr)
    end, ('Baton: no task to %s'):format(action.label:gsub('…$', ''):lower()))
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
    return all or not FINAL[t.state]
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
---the buffer (and the range or visual selection) as context.
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
  M.delegate(client, args, bufnr)
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
      if M.action_applies(action_by_name[name], task.state) then
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
    desc = 'Baton: status, health, edit, log, restart, delegate, tasks, review, apply, merge…',
    complete = M.complete,
  })
end

return M
