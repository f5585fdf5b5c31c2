-- baton.nes: next edit suggestions in Neovim. After a change in Normal mode (or on leaving Insert
-- mode) it asks the server with `textDocument/copilotInlineEdit` (debounced, the previous request
-- cancelled), shows the first edit with extmarks in its own namespace (the replaced text struck
-- through, the new text as virtual text after it), sends `textDocument/didShowInlineEdit`, and
-- maps a Normal-mode key to jump to the edit and, pressed there, apply it (running its
-- `baton.nes.accept` command), and one to dismiss it (`baton.nes.dismiss`). Accepting changes the
-- text, which asks again: the suggestions chain.

---The NES options (|baton.Config| `nes`).
---@class (exact) baton.NesConfig
---@field enabled boolean Ask for next edit suggestions after changes.
---@field debounce_ms integer Wait after the last change before asking, in milliseconds.
---@field accept string|false Normal-mode key: jump to the suggestion, then accept it.
---@field dismiss string|false Normal-mode key: dismiss the suggestion.

---One edit of a `textDocument/copilotInlineEdit` answer.
---@class (private) baton.nes.Edit
---@field text string
---@field range lsp.Range
---@field textDocument { uri: string, version: integer }
---@field command? lsp.Command

---The suggestion shown in a buffer.
---@class (private) baton.nes.Shown
---@field client_id integer
---@field edit baton.nes.Edit
---@field encoding baton.Encoding the client's offset encoding
---@field srow integer 0-based start row
---@field scol integer start byte column
---@field erow integer 0-based end row
---@field ecol integer end byte column
---@field landed? integer byte column the cursor landed on when jumping there (clamped to the line)

local M = {}

local api = vim.api
local METHOD = 'textDocument/copilotInlineEdit'
local DID_SHOW = 'textDocument/didShowInlineEdit'
local DISMISS = 'baton.nes.dismiss'

M.ns = api.nvim_create_namespace('baton.nes')

---@type baton.NesConfig
local opts = { enabled = true, debounce_ms = 100, accept = '<Tab>', dismiss = '<Esc>' }
---@type table<integer, baton.nes.Shown>
local shown = {}
---In-flight request per buffer: client id and request id.
---@type table<integer, { client_id: integer, id: integer }>
local pending = {}
---@type table<integer, uv.uv_timer_t>
local timers = {}
---The last answer per buffer (for tests): the edits and the version asked about.
---@type table<integer, { edits: baton.nes.Edit[], version: integer }>
M.last = {}

local function client_for(bufnr)
  return require('baton').client(bufnr)
end

---Byte column of an LSP position on `row` of `bufnr`.
---@param bufnr integer
---@param row integer
---@param character integer
---@param encoding baton.Encoding
---@return integer
local function byte_col(bufnr, row, character, encoding)
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  return (ok and col or #line) --[[@as integer]]
end

local function cancel(bufnr)
  local p = pending[bufnr]
  pending[bufnr] = nil
  local client = p and vim.lsp.get_client_by_id(p.client_id)
  if client then
    client:cancel_request(p.id)
  end
end

---Clears the suggestion of `bufnr` (nothing is sent).
---@param bufnr? integer default: the current buffer
function M.clear(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  shown[bufnr] = nil
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

---True when a suggestion is shown in `bufnr`.
---@param bufnr? integer
---@return boolean
function M.visible(bufnr)
  return shown[bufnr or api.nvim_get_current_buf()] ~= nil
end

---The shown suggestion's edit (text, range), or nil.
---@param bufnr? integer
---@return baton.nes.Edit?
function M.current(bufnr)
  local s = shown[bufnr or api.nvim_get_current_buf()]
  return s and s.edit
end

---@param bufnr integer
---@param s baton.nes.Shown
local function render(bufnr, s)
  api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  if s.srow ~= s.erow or s.scol ~= s.ecol then
    api.nvim_buf_set_extmark(bufnr, M.ns, s.srow, s.scol, {
      end_row = s.erow,
      end_col = s.ecol,
      hl_group = 'BatonNesDelete',
    })
  end
  local lines = vim.split(s.edit.text, '\n', { plain = true })
  if s.edit.text == '' then
    return
  end
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { lines[i], 'BatonNesAdd' } }
  end
  api.nvim_buf_set_extmark(bufnr, M.ns, s.erow, s.ecol, {
    virt_text = { { lines[1], 'BatonNesAdd' } },
    virt_text_pos = 'inline',
    virt_lines = #virt_lines > 0 and virt_lines or nil,
  })
end

---@param bufnr integer
---@param client vim.lsp.Client
---@param edit baton.nes.Edit
local function show(bufnr, client, edit)
  local enc = client.offset_encoding --[[@as baton.Encoding]]
  local r = edit.range
  local s = {
    client_id = client.id,
    edit = edit,
    encoding = enc,
    srow = r.start.line,
    scol = byte_col(bufnr, r.start.line, r.start.character, enc),
    erow = r['end'].line,
    ecol = byte_col(bufnr, r['end'].line, r['end'].character, enc),
  }
  shown[bufnr] = s
  render(bufnr, s)
  client:notify(DID_SHOW, { item = { command = edit.command } })
end

---Asks the server for a next edit at the cursor of `bufnr` now (cancelling a request in flight).
---@param bufnr? integer default: the current buffer
function M.request(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client or api.nvim_get_current_buf() ~= bufnr then
    return
  end
  cancel(bufnr)
  local encoding = client.offset_encoding --[[@as baton.Encoding]]
  local params = vim.lsp.util.make_position_params(0, encoding) --[[@as table]]
  local version = vim.lsp.util.buf_versions[bufnr]
  params.textDocument.version = version
  local ok, id = client:request(METHOD, params, function(err, result)
    pending[bufnr] = nil
    if err or type(result) ~= 'table' or not api.nvim_buf_is_valid(bufnr) then
      return
    end
    local edits = result.edits or {}
    M.last[bufnr] = { edits = edits, version = version }
    -- Only for the text it was computed on.
    local edit = edits[1]
    if not edit or vim.lsp.util.buf_versions[bufnr] ~= version or api.nvim_get_mode().mode:find('^i') then
      return
    end
    if edit.textDocument and edit.textDocument.version ~= version then
      return
    end
    show(bufnr, client, edit)
  end, bufnr)
  if ok and id then
    pending[bufnr] = { client_id = client.id, id = id }
  end
end

---Asks after `debounce_ms`, restarting the wait on every call.
---@param bufnr integer
function M.schedule(bufnr)
  if not opts.enabled then
    return
  end
  M.clear(bufnr)
  local t = timers[bufnr]
  if not t then
    t = assert(vim.uv.new_timer())
    timers[bufnr] = t
  end
  t:stop()
  t:start(
    opts.debounce_ms,
    0,
    vim.schedule_wrap(function()
      if api.nvim_buf_is_valid(bufnr) and not api.nvim_get_mode().mode:find('^i') then
        M.request(bufnr)
      end
    end)
  )
end

---Jumps to the shown suggestion; when the cursor is already at its start, applies it, moves to
---its end and runs its accept command. Returns false when none is shown.
---@param bufnr? integer default: the current buffer
---@return boolean
function M.accept(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local s = shown[bufnr]
  if not s then
    return false
  end
  local cur = api.nvim_win_get_cursor(0) --[[@as [integer, integer] ]]
  -- Normal mode cannot put the cursor past a line's last char: an edit that appends to a line
  -- is reached where the jump landed.
  if cur[1] - 1 ~= s.srow or (cur[2] ~= s.scol and cur[2] ~= s.landed) then
    api.nvim_win_set_cursor(0, { s.srow + 1, s.scol } --[[@as integer[] ]])
    s.landed = api.nvim_win_get_cursor(0)[2]
    return true
  end
  M.clear(bufnr)
  local client = vim.lsp.get_client_by_id(s.client_id)
  vim.lsp.util.apply_text_edits({ { range = s.edit.range, newText = s.edit.text } }, bufnr, s.encoding)
  local lines = vim.split(s.edit.text, '\n', { plain = true })
  local erow = s.srow + #lines - 1
  local ecol = #lines == 1 and s.scol + #lines[1] or #lines[#lines]
  pcall(api.nvim_win_set_cursor, 0, { erow + 1, math.max(ecol - 1, 0) } --[[@as integer[] ]])
  if client and s.edit.command then
    client:exec_cmd(s.edit.command, { bufnr = bufnr })
  end
  return true
end

---Dismisses the shown suggestion and tells the server (`baton.nes.dismiss`). Returns false when
---none is shown.
---@param bufnr? integer default: the current buffer
---@return boolean
function M.dismiss(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local s = shown[bufnr]
  if not s then
    return false
  end
  M.clear(bufnr)
  local client = vim.lsp.get_client_by_id(s.client_id)
  local args = s.edit.command and s.edit.command.arguments
  if client and args then
    client:exec_cmd({ title = 'Dismiss next edit', command = DISMISS, arguments = args }, { bufnr = bufnr })
  end
  return true
end

---@param lhs string
---@param action fun(): boolean
local function map(lhs, action, desc)
  vim.keymap.set('n', lhs, function()
    if not action() then
      api.nvim_feedkeys(vim.keycode(lhs), 'n', false)
    end
  end, { desc = desc, silent = true })
end

---Applies the NES options and follows Baton's buffers as its clients attach.
---@param options baton.NesConfig
function M.setup(options)
  opts = vim.tbl_extend('force', opts, options or {})
  api.nvim_set_hl(0, 'BatonNesDelete', { strikethrough = true, link = 'DiffDelete', default = true })
  api.nvim_set_hl(0, 'BatonNesAdd', { link = 'DiffAdd', default = true })
  if opts.accept then
    map(opts.accept, M.accept, 'Baton: jump to / accept the next edit')
  end
  if opts.dismiss then
    map(opts.dismiss, M.dismiss, 'Baton: dismiss the next edit')
  end
  local group = api.nvim_create_augroup('baton.nes', { clear = true })
  if not opts.enabled then
    return
  end
  api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if not client or client.name ~= require('baton').NAME then
        return
      end
      local buf = args.buf
      api.nvim_create_autocmd({ 'TextChanged', 'InsertLeave' }, {
        group = group,
        buffer = buf,
        callback = function()
          M.schedule(buf)
        end,
      })
      api.nvim_create_autocmd({ 'TextChangedI', 'InsertEnter' }, {
        group = group,
        buffer = buf,
        callback = function()
          cancel(buf)
          M.clear(buf)
        end,
      })
      api.nvim_create_autocmd('BufUnload', {
        group = group,
        buffer = buf,
        callback = function()
          cancel(buf)
          shown[buf] = nil
          local t = timers[buf]
          timers[buf] = nil
          if t then
            t:stop()
            t:close()
          end
        end,
      })
    end,
  })
end

return M
