-- baton: the plugin's entry point. Owns the user options (`setup`), the LSP client
-- configuration (command, capabilities, settings, root markers, filetypes), the `baton/status`
-- and `baton/tasks` state behind `require('baton').status()`, task progress (`$/progress`
-- tokens `baton/task/<id>`), and wiring ghost text, keymaps and `:Baton`.
-- Protocol names come from editors/protocol.json (the server's single source of truth).

---A position encoding (`client.offset_encoding`).
---@alias baton.Encoding 'utf-8'|'utf-16'|'utf-32'

---@class (exact) baton.GhostConfig
---@field enabled boolean Draw suggestions as ghost text while typing.
---@field debounce_ms integer Client-side debounce before a request is sent, in milliseconds.

---Insert-mode keymaps (`lhs` strings); `false` disables one.
---@class (exact) baton.KeymapsConfig
---@field accept string|false
---@field accept_word string|false
---@field accept_line string|false
---@field next string|false
---@field prev string|false
---@field dismiss string|false
---@field trigger string|false
---@field panel string|false Opens the suggestions panel (lua/baton/panel.lua).

---The options in force after `setup()`: the defaults merged with the user's.
---@class (exact) baton.Config
---@field cmd string[] The server command; `--log-file` is appended when `log_file` is set.
---@field log_file string|false The server log, or false for the server's stderr.
---@field settings table<string, any> Baton's settings (editors/protocol.json), sent to the server.
---@field filetypes string[] Filetypes the client attaches to.
---@field root_markers string[] Files or directories that mark a project root.
---@field ghost baton.GhostConfig
---@field keymaps baton.KeymapsConfig|false false: no keymaps.
---@field nes baton.NesConfig Next edit suggestions (lua/baton/nes.lua).

---What `setup()` accepts: any part of |baton.Config|; lists replace the defaults, tables merge.
---@class (exact) baton.Options
---@field cmd? string[]
---@field log_file? string|false
---@field settings? table<string, any>
---@field filetypes? string[]
---@field root_markers? string[]
---@field ghost? { enabled?: boolean, debounce_ms?: integer }
---@field keymaps? { accept?: string|false, accept_word?: string|false, accept_line?: string|false, next?: string|false, prev?: string|false, dismiss?: string|false, trigger?: string|false, panel?: string|false }|false
---@field nes? { enabled?: boolean, debounce_ms?: integer, accept?: string|false, dismiss?: string|false }

---Params of `baton/status` (server/lsp/ext.rs `StatusParams`).
---@class baton.StatusParams
---@field state 'idle'|'working'|'error'|'slow'|'unreachable'
---@field message? string
---@field provider string
---@field model string

---One task as `baton/tasks` and `baton.task.list` give it (server/lsp/ext.rs `TaskSummary`).
---@class baton.TaskSummary
---@field id integer
---@field title string
---@field state string
---@field agent string
---@field branch? string
---@field message? string
---@field diffStat? string
---@field checks? string
---@field actions? baton.TaskActionItem[] what the task's state allows (the server decides)
---@field details? string the task rendered as text by the server

---One action the server says a task allows (server/lsp/ext.rs `TaskAction`).
---@class baton.TaskActionItem
---@field id string `review`, `merge`, ... (protocol.json `taskActions`)
---@field title string
---@field command string

---Params of `baton/tasks` (server/lsp/ext.rs `TasksParams`).
---@class baton.TasksParams
---@field queued integer
---@field running integer
---@field awaitingReview integer
---@field awaitingPlanApproval integer
---@field failed integer
---@field interrupted integer
---@field tasks baton.TaskSummary[]

---The latest `$/progress` of a running task.
---@class baton.TaskProgress
---@field title string
---@field message? string
---@field percentage? integer

local M = {}

M.NAME = 'baton'
M.STATUS_METHOD = 'baton/status'
M.HEALTH_METHOD = 'baton/health'
M.DID_SHOW_METHOD = 'baton/didShowCompletion'
M.PANEL_METHOD = 'baton/completionPanel'
M.AGENTS_METHOD = 'baton/agents'
M.CMD_EDIT = 'baton.edit'
M.CMD_FIX = 'baton.fix'
M.CMD_ACCEPTED = 'baton.accepted'
-- Orchestrator mode: background tasks and their pull requests.
M.TASKS_METHOD = 'baton/tasks'
M.CMD_TASK_START = 'baton.task.start'
M.CMD_TASK_LIST = 'baton.task.list'
M.CMD_TASK_SHOW = 'baton.task.show'
M.CMD_TASK_APPROVE_PLAN = 'baton.task.approvePlan'
M.CMD_TASK_RESUME = 'baton.task.resume'
M.CMD_PR_REVIEW = 'baton.pr.review'
M.CMD_PR_APPLY = 'baton.pr.apply'
M.CMD_PR_MERGE = 'baton.pr.merge'
M.CMD_PR_REQUEST_CHANGES = 'baton.pr.requestChanges'
M.CMD_PR_DISCARD = 'baton.pr.discard'
---`$/progress` tokens of running tasks start with this.
M.TASK_PROGRESS_PREFIX = 'baton/task/'

---Default options. Every key is optional in `setup()`.
---@type baton.Config
M.defaults = {
  -- The server command. `--log-file` is appended when `log_file` is set.
  cmd = { 'baton' },
  -- Server log (`:Baton log` opens it). `false` keeps the server's logs on its stderr.
  log_file = vim.fn.stdpath('log') .. '/baton.log',
  -- Baton's settings (see editors/protocol.json), e.g.
  -- { provider = { kind = 'openai', base_url = 'http://127.0.0.1:8080/v1', model = '...' } }.
  -- Sent as initializationOptions and as workspace/didChangeConfiguration { baton = ... }.
  settings = {},
  filetypes = {
    'c',
    'cpp',
    'cs',
    'css',
    'go',
    'html',
    'java',
    'javascript',
    'javascriptreact',
    'json',
    'kotlin',
    'lua',
    'markdown',
    'php',
    'python',
    'ruby',
    'rust',
    'scala',
    'sh',
    'sql',
    'swift',
    'toml',
    'typescript',
    'typescriptreact',
    'vim',
    'yaml',
    'zig',
  },
  root_markers = { '.git', 'baton.toml' },
  ghost = {
    -- Draw suggestions as ghost text while typing (on 0.12+ the built-in inline completion).
    enabled = true,
    -- Client-side debounce before a request is sent (the server debounces again).
    debounce_ms = 30,
  },
  -- Insert-mode keymaps. Set one to false to disable it, or `keymaps = false` for none.
  keymaps = {
    accept = '<M-l>',
    accept_word = '<M-w>',
    accept_line = '<M-L>',
    next = '<M-]>',
    prev = '<M-[>',
    dismiss = '<C-]>',
    trigger = '<M-\\>',
    -- Up to 10 suggestions in a split (`:Baton panel`); <CR> there accepts one.
    panel = '<M-CR>',
  },
  -- Next edit suggestions: Normal-mode keys to jump to / accept the suggested edit and dismiss it.
  nes = { enabled = true, debounce_ms = 100, accept = '<Tab>', dismiss = '<Esc>' },
}

---The options in force (the defaults until `setup()`).
---@type baton.Config
M.options = vim.deepcopy(M.defaults)

---Last `baton/status` params per client id.
---@type table<integer, baton.StatusParams>
M.state = {}
---Last `baton/tasks` params per client id.
---@type table<integer, baton.TasksParams>
M.tasks = {}
---Latest `$/progress` of each running task per client id, by task id.
---@type table<integer, table<integer, baton.TaskProgress>>
M.task_progress = {}

---The Baton client attached to `bufnr`, else any running Baton client (nil when none runs).
---@param bufnr? integer
---@return vim.lsp.Client?
function M.client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.NAME, bufnr = bufnr })
  if #clients == 0 and bufnr then
    clients = vim.lsp.get_clients({ name = M.NAME })
  end
  return clients[1]
end

---@param params baton.StatusParams|any
---@param ctx lsp.HandlerContext
local function status_handler(_, params, ctx)
  if type(params) ~= 'table' then
    return
  end
  M.state[ctx.client_id] = params
  vim.schedule(function()
    pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'BatonStatus', modeline = false, data = params })
    vim.cmd('redrawstatus')
  end)
end

---@param params baton.TasksParams|any
---@param ctx lsp.HandlerContext
local function tasks_handler(_, params, ctx)
  if type(params) ~= 'table' then
    return
  end
  M.tasks[ctx.client_id] = params
  -- Progress of tasks that are no longer listed as working is stale.
  local progress = M.task_progress[ctx.client_id]
  if progress then
    local working = {}
    for _, t in ipairs(params.tasks or {}) do
      working[t.id] = t.state
    end
    for id in pairs(progress) do
      local st = working[id]
      if not (st == 'queued' or st == 'preparing' or st == 'running' or st == 'checking') then
        progress[id] = nil
      end
    end
  end
  vim.schedule(function()
    pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'BatonTasks', modeline = false, data = params })
    vim.cmd('redrawstatus')
  end)
end

---Keeps the latest `$/progress` value of each task (tokens `baton/task/<id>`), from Neovim's
---LspProgress event; fires `User BatonTaskProgress`.
---@param ev { data?: { client_id?: integer, params?: lsp.ProgressParams } }
local function on_progress(ev)
  local data = ev.data or {}
  local params = data.params
  local token = params and params.token
  local client = data.client_id and vim.lsp.get_client_by_id(data.client_id)
  if not params or type(token) ~= 'string' or not client or client.name ~= M.NAME then
    return
  end
  local id = tonumber(token:match('^' .. vim.pesc(M.TASK_PROGRESS_PREFIX) .. '(%d+)$'))
  if not id then
    return
  end
  local value = params.value or {}
  local per_client = M.task_progress[data.client_id] or {}
  M.task_progress[data.client_id] = per_client
  if value.kind == 'end' then
    per_client[id] = nil
  else
    local old = per_client[id] or {}
    per_client[id] = {
      title = value.title or old.title or ('Baton task #' .. id),
      message = value.message or old.message,
      percentage = value.percentage or old.percentage,
    }
  end
  pcall(vim.api.nvim_exec_autocmds, 'User', {
    pattern = 'BatonTaskProgress',
    modeline = false,
    data = { client_id = data.client_id, id = id, value = value },
  })
  vim.cmd('redrawstatus')
end

local labels = { idle = 'idle', working = 'working…', error = 'error', slow = 'slow', unreachable = 'unreachable' }

---Task count labels, in the order the statusline shows them (only counts above zero):
---`{ baton/tasks field, label }`.
---@type [string, string][]
M.count_labels = {
  { 'running', 'running' },
  { 'queued', 'queued' },
  { 'awaitingReview', 'to review' },
  { 'awaitingPlanApproval', 'plan to approve' },
  { 'failed', 'failed' },
  { 'interrupted', 'interrupted' },
}

---The task counts as a string: `1 running · 2 to review` ('' when there are none).
---@param bufnr? integer default: the current buffer
---@return string
function M.tasks_status(bufnr)
  local client = M.client(bufnr or vim.api.nvim_get_current_buf())
  local t = client and M.tasks[client.id]
  if not t then
    return ''
  end
  local parts = {}
  for _, l in ipairs(M.count_labels) do
    local n = tonumber(t[l[1]]) or 0
    if n > 0 then
      parts[#parts + 1] = ('%d %s'):format(n, l[2])
    end
  end
  return table.concat(parts, ' · ')
end

---A short statusline string: model state plus task counts, e.g.
---`Baton: idle · 1 running · 2 to review`. States: `idle`, `working…`, `error`,
---`slow`, `unreachable`, `starting` (attached, no status yet); '' when not running.
---@param bufnr? integer default: the current buffer
---@return string
function M.status(bufnr)
  local client = M.client(bufnr or vim.api.nvim_get_current_buf())
  if not client then
    return ''
  end
  local st = M.state[client.id]
  local s = 'Baton: ' .. (st and (labels[st.state] or tostring(st.state)) or 'starting')
  local counts = M.tasks_status(bufnr)
  if counts ~= '' then
    s = s .. ' · ' .. counts
  end
  return s
end

---The latest step of a running task (from `$/progress`), e.g. `#3: editing lib.rs`, cut to
---`max` characters (default 40); '' when no task reports progress.
---@param bufnr? integer default: the current buffer
---@param max? integer
---@return string
function M.progress(bufnr, max)
  local client = M.client(bufnr or vim.api.nvim_get_current_buf())
  local p = client and M.task_progress[client.id]
  if not p then
    return ''
  end
  local id = nil
  for k in pairs(p) do
    if not id or k > id then
      id = k
    end
  end
  if not id then
    return ''
  end
  local s = ('#%d: %s'):format(id, p[id].message or p[id].title or 'working')
  max = max or 40
  if vim.fn.strchars(s) > max then
    s = vim.fn.strcharpart(s, 0, max - 1) .. '…'
  end
  return s
end

---The last `baton/tasks` params of the current client (or nil): counts and `tasks`.
---@param bufnr? integer default: the current buffer
---@return baton.TasksParams?
function M.tasks_details(bufnr)
  local client = M.client(bufnr or vim.api.nvim_get_current_buf())
  return client and M.tasks[client.id] or nil
end

---The full last status of the current client (or nil).
---@param bufnr? integer default: the current buffer
---@return baton.StatusParams?
function M.status_details(bufnr)
  local client = M.client(bufnr or vim.api.nvim_get_current_buf())
  return client and M.state[client.id] or nil
end

---Client capabilities Baton needs on top of Neovim's defaults.
---@return lsp.ClientCapabilities
function M.capabilities()
  return vim.tbl_deep_extend('force', vim.lsp.protocol.make_client_capabilities(), {
    textDocument = { inlineCompletion = { dynamicRegistration = false } },
    experimental = { baton = { status = true, tasks = true } },
  })
end

---The server command from the options: `cmd` plus `--log-file` when `log_file` is set.
---@return string[]
function M.server_cmd()
  local cmd = vim.deepcopy(M.options.cmd)
  if M.options.log_file then
    vim.list_extend(cmd, { '--log-file', M.options.log_file })
  end
  return cmd
end

---The config given to vim.lsp.config / vim.lsp.start.
---@return vim.lsp.Config
function M.lsp_config()
  local o = M.options
  return {
    name = M.NAME,
    cmd = M.server_cmd(),
    filetypes = o.filetypes,
    root_markers = o.root_markers,
    capabilities = M.capabilities(),
    init_options = o.settings,
    settings = next(o.settings) and { baton = o.settings } or vim.empty_dict(),
    handlers = { [M.STATUS_METHOD] = status_handler, [M.TASKS_METHOD] = tasks_handler },
    on_exit = function(_, _, client_id)
      M.state[client_id] = nil
      M.tasks[client_id] = nil
      M.task_progress[client_id] = nil
      vim.schedule(function()
        vim.cmd('redrawstatus')
      end)
    end,
  }
end

---Merges `settings` into the options' settings and sends them to running clients
---(workspace/didChangeConfiguration { baton = ... }).
---@param settings? table<string, any>
function M.update_settings(settings)
  M.options.settings = vim.tbl_deep_extend('force', M.options.settings, settings or {}) --[[@as table<string, any>]]
  for _, client in ipairs(vim.lsp.get_clients({ name = M.NAME })) do
    client.settings = { baton = M.options.settings }
    client:notify('workspace/didChangeConfiguration', { settings = { baton = M.options.settings } })
  end
end

---@param opts? baton.Options
---@return baton.Config
local function merge_options(opts)
  opts = opts or {}
  local o = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  -- Lists replace, not merge.
  for _, k in ipairs({ 'cmd', 'filetypes', 'root_markers' }) do
    if opts[k] then
      o[k] = opts[k]
    end
  end
  if opts.keymaps == false then
    o.keymaps = false
  end
  return o
end

---Checks the merged options' types with vim.validate; raises an error that names the option.
---@param o baton.Config
local function validate(o)
  local function list_of_strings(v)
    if not vim.islist(v) then
      return false
    end
    for _, x in ipairs(v) do
      if type(x) ~= 'string' then
        return false
      end
    end
    return true
  end
  local function string_or_false(v)
    return type(v) == 'string' or v == false
  end
  vim.validate('cmd', o.cmd, function(v)
    return list_of_strings(v) and #v > 0
  end, 'a non-empty list of strings')
  vim.validate('log_file', o.log_file, string_or_false, 'a path or false')
  vim.validate('settings', o.settings, 'table')
  vim.validate('filetypes', o.filetypes, list_of_strings, 'a list of strings')
  vim.validate('root_markers', o.root_markers, list_of_strings, 'a list of strings')
  vim.validate('ghost', o.ghost, 'table')
  vim.validate('ghost.enabled', o.ghost.enabled, 'boolean')
  vim.validate('ghost.debounce_ms', o.ghost.debounce_ms, function(v)
    return type(v) == 'number' and v >= 0 and math.floor(v) == v
  end, 'a whole number of milliseconds')
  vim.validate('keymaps', o.keymaps, function(v)
    return type(v) == 'table' or v == false
  end, 'a table or false')
  if o.keymaps then
    for _, name in ipairs({ 'accept', 'accept_word', 'accept_line', 'next', 'prev', 'dismiss', 'trigger', 'panel' }) do
      vim.validate('keymaps.' .. name, o.keymaps[name], string_or_false, 'a key (lhs) or false')
    end
  end
end

---Sets the options, registers `:Baton` and the LSP client (vim.lsp.config + vim.lsp.enable).
---Raises an error naming the option when one has the wrong type.
---@param opts? baton.Options
function M.setup(opts)
  vim.validate('opts', opts, 'table', true)
  local options = merge_options(opts)
  validate(options)
  M.options = options
  if M.options.log_file then
    pcall(vim.fn.mkdir, vim.fn.fnamemodify(M.options.log_file, ':h'), 'p')
  end
  local program = M.options.cmd[1]
  if type(program) == 'string' and vim.fn.executable(program) == 0 then
    -- Neovim would only log the failed start: say it where the user looks.
    vim.notify(
      (
        'Baton: the server `%s` is not found or not executable, so Baton stays off. Install it with '
        .. '`cargo install --path .` in the Baton repository (puts it in ~/.cargo/bin), or set '
        .. "setup({ cmd = { '/path/to/baton' } }). :checkhealth baton says more."
      ):format(program),
      vim.log.levels.ERROR
    )
  end
  require('baton.commands').setup()
  require('baton.ghost').setup(M.options)
  require('baton.panel').setup()
  require('baton.nes').setup(M.options.nes)
  vim.api.nvim_create_autocmd('LspProgress', {
    group = vim.api.nvim_create_augroup('baton.progress', { clear = true }),
    callback = on_progress,
  })

  if vim.lsp.config and vim.lsp.enable then
    vim.lsp.config(M.NAME, M.lsp_config())
    vim.lsp.enable(M.NAME)
  else
    -- Before 0.11: start the client from a FileType autocmd.
    local group = vim.api.nvim_create_augroup('baton.start', { clear = true })
    vim.api.nvim_create_autocmd('FileType', {
      group = group,
      pattern = M.options.filetypes,
      callback = function(args)
        local cfg = M.lsp_config()
        local root = vim.fs.root(args.buf, M.options.root_markers)
        cfg.root_dir = root
        vim.lsp.start(cfg, { bufnr = args.buf })
      end,
    })
  end
end

---Stops Baton's clients and starts them again for the open buffers (asynchronously).
function M.restart()
  local clients = vim.lsp.get_clients({ name = M.NAME })
  for _, c in ipairs(clients) do
    c:stop()
  end
  local timer = assert(vim.uv.new_timer())
  local waited = 0
  timer:start(
    50,
    50,
    vim.schedule_wrap(function()
      waited = waited + 50
      local alive = vim.tbl_filter(function(c)
        return not c:is_stopped()
      end, clients)
      if #alive > 0 and waited < 3000 then
        return
      end
      for _, c in ipairs(alive) do
        c:stop(true)
      end
      timer:stop()
      timer:close()
      if vim.lsp.enable then
        vim.lsp.enable(M.NAME, false)
        vim.lsp.enable(M.NAME, true)
      else
        vim.cmd('doautoall baton.start FileType')
      end
      vim.notify('Baton: restarted', vim.log.levels.INFO)
    end)
  )
end

return M
