-- baton: the plugin's entry point. Owns the user options (`setup`), the LSP client
-- configuration (command, capabilities, settings, root markers, filetypes), the `baton/status`
-- state behind `require('baton').status()`, and wiring ghost text, keymaps and `:Baton`.
-- Protocol names come from editors/protocol.json (the server's single source of truth).

local M = {}

M.NAME = 'baton'
M.STATUS_METHOD = 'baton/status'
M.HEALTH_METHOD = 'baton/health'
M.DID_SHOW_METHOD = 'baton/didShowCompletion'
M.CMD_EDIT = 'baton.edit'
M.CMD_FIX = 'baton.fix'
M.CMD_ACCEPTED = 'baton.accepted'

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
    'c', 'cpp', 'cs', 'css', 'go', 'html', 'java', 'javascript', 'javascriptreact', 'json', 'kotlin',
    'lua', 'markdown', 'php', 'python', 'ruby', 'rust', 'scala', 'sh', 'sql', 'swift', 'toml',
    'typescript', 'typescriptreact', 'vim', 'yaml', 'zig',
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

local labels = { idle = 'idle', working = 'working…', error = 'error', unreachable = 'unreachable' }

---A short statusline string: `Baton: idle`, `Baton: working…`, `Baton: error`,
---`Baton: unreachable`, `Baton: starting` (attached, no status yet); '' when not running.
function M.status(bufnr)
  local client = M.client(bufnr or vim.api.nvim_get_current_buf())
  if not client then
    return ''
  end
  local st = M.state[client.id]
  if not st then
    return 'Baton: starting'
  end
  return 'Baton: ' .. (labels[st.state] or tostring(st.state))
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
    experimental = { baton = { status = true } },
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
    handlers = { [M.STATUS_METHOD] = status_handler },
    on_exit = function(_, _, client_id)
      M.state[client_id] = nil
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
  timer:start(50, 50, vim.schedule_wrap(function()
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
  end))
end

return M
