-- baton: the plugin's entry point. Owns the user options (`setup`), the LSP client
-- configuration (command, capabilities, settings, root markers, filetypes), the `baton/status`
-- and `baton/tasks` state behind `require('baton').status()`, task progress (`$/progress`
-- tokens `baton/task/<id>`), and wiring ghost text, keymaps and `:Baton`.
-- Protocol names come from editors/protocol.json (the server's single source of truth).

local M = {}

M.NAME = 'baton'
M.STATUS_METHOD = 'baton/status'
M.HEALTH_METHOD = 'baton/health'
M.DID_SHOW_METHOD = 'baton/didShowCompletion'
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
    next = '<M-]>',
    prev = '<M-[>',
    dismiss = '<C-]>',
    trigger = '<M-\\>',
  },
}

M.options = vim.deepcopy(M.defaults)

---Last `baton/status` params per client id: { state, message, provider, model }.
M.state = {}
---Last `baton/tasks` params per client id: { queued, running, awaitingReview,
---awaitingPlanApproval, failed, interrupted, tasks = { TaskSummary... } }.
M.tasks = {}
---Latest `$/progress` of each running task per client id: { [task id] = { title, message, percentage } }.
M.task_progress = {}

---@return vim.lsp.Client?
function M.client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.NAME, bufnr = bufnr })
  if #clients == 0 and bufnr then
    clients = vim.lsp.get_clients({ name = M.NAME })
  end
  return clients[1]
end

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
local function on_progress(ev)
  local data = ev.data or {}
  local token = data.params and data.params.token
  local client = data.client_id and vim.lsp.get_client_by_id(data.client_id)
  if type(token) ~= 'string' or not client or client.name ~= M.NAME then
    return
  end
  local id = tonumber(token:match('^' .. vim.pesc(M.TASK_PROGRESS_PREFIX) .. '(%d+)$'))
  if not id then
    return
  end
  local value = data.params.value or {}
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

local labels = { idle = 'idle', working = 'working…', error = 'error', unreachable = 'unreachable' }

---Task count labels, in the order the statusline shows them (only counts above zero).
M.count_labels = {
  { 'running', 'running' },
  { 'queued', 'queued' },
  { 'awaitingReview', 'to review' },
  { 'awaitingPlanApproval', 'plan to approve' },
  { 'failed', 'failed' },
  { 'interrupted', 'interrupted' },
}

---The task counts as a string: `1 running · 2 to review` ('' when there are none).
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
---`unreachable`, `starting` (attached, no status yet); '' when not running.
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
function M.tasks_details(bufnr)
  local client = M.client(bufnr or vim.api.nvim_get_current_buf())
  return client and M.tasks[client.id] or nil
end

---The full last status of the current client (or nil).
function M.status_details(bufnr)
  local client = M.client(bufnr or vim.api.nvim_get_current_buf())
  return client and M.state[client.id] or nil
end

---Client capabilities Baton needs on top of Neovim's defaults.
function M.capabilities()
  return vim.tbl_deep_extend('force', vim.lsp.protocol.make_client_capabilities(), {
    textDocument = { inlineCompletion = { dynamicRegistration = false } },
    experimental = { baton = { status = true, tasks = true } },
  })
end

function M.server_cmd()
  local cmd = vim.deepcopy(M.options.cmd)
  if M.options.log_file then
    vim.list_extend(cmd, { '--log-file', M.options.log_file })
  end
  return cmd
end

---The config given to vim.lsp.config / vim.lsp.start.
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

---Sends new settings to running clients (workspace/didChangeConfiguration { baton = ... }).
function M.update_settings(settings)
  M.options.settings = vim.tbl_deep_extend('force', M.options.settings, settings or {})
  for _, client in ipairs(vim.lsp.get_clients({ name = M.NAME })) do
    client.settings = { baton = M.options.settings }
    client:notify('workspace/didChangeConfiguration', { settings = { baton = M.options.settings } })
  end
end

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

function M.setup(opts)
  M.options = merge_options(opts)
  if M.options.log_file then
    pcall(vim.fn.mkdir, vim.fn.fnamemodify(M.options.log_file, ':h'), 'p')
  end
  require('baton.commands').setup()
  require('baton.ghost').setup(M.options)
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
