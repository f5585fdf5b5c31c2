-- baton.ghost: ghost text (inline suggestions) and its insert-mode keymaps. On Neovim 0.11 it
-- owns the whole loop: debounced `textDocument/inlineCompletion` requests (cancelling the
-- previous one), the extmarks in its own namespace, accept / accept word / accept line / cycle / dismiss, and
-- running the item's `baton.accepted` command. On 0.12+ it hands over to the built-in
-- `vim.lsp.inline_completion` and only maps the keys.

---A suggestion shown in a buffer.
---@class (private) baton.ghost.Shown
---@field client_id integer
---@field items lsp.InlineCompletionItem[]
---@field index integer 1-based index of the shown item in `items`
---@field row integer 0-based row of the cursor when it was shown
---@field col integer byte column of the cursor when it was shown
---@field tick integer the buffer's changedtick when it was shown
---@field consumed integer bytes of `text` already inserted (accept word)
---@field text string what accept inserts
---@field tail integer bytes after the cursor the last piece replaces (auto-closed brackets)

---A `textDocument/inlineCompletion` request in flight.
---@class (private) baton.ghost.Pending
---@field client_id integer
---@field id integer the request id
---@field tick integer
---@field row integer
---@field col integer

local M = {}

local api = vim.api
local METHOD = 'textDocument/inlineCompletion'

M.ns = api.nvim_create_namespace('baton.ghost')

---@type baton.GhostConfig
local opts = { enabled = true, debounce_ms = 30 }
---Shown suggestion per buffer.
---@type table<integer, baton.ghost.Shown>
local shown = {}
---In-flight request per buffer.
---@type table<integer, baton.ghost.Pending>
local pending = {}
---Debounce timer per buffer.
---@type table<integer, uv.uv_timer_t>
local timers = {}
---Set when the last response arrived (for tests and the e2e report); `ms` is the round trip
---in milliseconds, `row` and `col` the 0-based row and byte column of the suggestion.
---@type { bufnr: integer, ms: number, text: string, row: integer, col: integer }?
M.last = nil

local function baton()
  return require('baton')
end

---True on Neovim 0.12+, where the built-in `vim.lsp.inline_completion` draws suggestions.
---@return boolean
function M.builtin_available()
  return vim.lsp.inline_completion ~= nil and vim.lsp.inline_completion.enable ~= nil
end

---The cursor of `win` (default: current) as a 0-based row and a byte column.
---@param win? integer
---@return integer row, integer col
local function cursor(win)
  local pos = api.nvim_win_get_cursor(win or 0) --[[@as [integer, integer] ]]
  return pos[1] - 1, pos[2]
end

---@param item lsp.InlineCompletionItem
---@return string
local function item_text(item)
  local t = item.insertText
  if type(t) == 'table' then
    t = t.value or ''
  end
  return t or ''
end

---Byte column of an LSP position on `row` of `bufnr`.
---@param bufnr integer
---@param row integer 0-based
---@param character integer code units of the position encoding
---@param encoding baton.Encoding
---@return integer
local function byte_col(bufnr, row, character, encoding)
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  return ok and col or #line
end

---The text still to insert at the cursor for `item`: the item's text minus what the user
---typed after its range start (or the whole text when that does not match).
---@param bufnr integer
---@param item lsp.InlineCompletionItem
---@param row integer 0-based
---@param col integer byte column
---@param encoding baton.Encoding
---@return string
local function remaining(bufnr, item, row, col, encoding)
  local text = item_text(item)
  local r = item.range
  if r and r.start.line == row then
    local start = byte_col(bufnr, row, r.start.character, encoding)
    if start < col then
      local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
      local typed = line:sub(start + 1, col)
      if text:sub(1, #typed) == typed then
        return text:sub(#typed + 1)
      end
    end
  end
  return text
end

---How many bytes after the cursor `item` replaces: its range may end past the cursor on the
---same line (the server covers auto-closed brackets and quotes that the text ends with).
---@param bufnr integer
---@param item lsp.InlineCompletionItem
---@param row integer 0-based
---@param col integer byte column
---@param encoding baton.Encoding
---@return integer
local function tail_bytes(bufnr, item, row, col, encoding)
  local r = item.range
  if not r or r['end'].line ~= row then
    return 0
  end
  return math.max(0, byte_col(bufnr, row, r['end'].character, encoding) - col)
end

local function clear_marks(bufnr)
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

local function cancel_pending(bufnr)
  local p = pending[bufnr]
  pending[bufnr] = nil
  if p then
    local client = vim.lsp.get_client_by_id(p.client_id)
    if client then
      pcall(client.cancel_request, client, p.id)
    end
  end
end

---Removes the ghost text in `bufnr` (and cancels a request in flight).
---@param bufnr? integer default: the current buffer
function M.dismiss(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  cancel_pending(bufnr)
  if timers[bufnr] then
    timers[bufnr]:stop()
  end
  shown[bufnr] = nil
  clear_marks(bufnr)
end

local function render(bufnr)
  clear_marks(bufnr)
  local s = shown[bufnr]
  if not s then
    return
  end
  local text = s.text:sub(s.consumed + 1)
  if text == '' then
    shown[bufnr] = nil
    return
  end
  local lines = vim.split(text, '\n', { plain = true })
  local extmark = {
    virt_text = { { lines[1], 'BatonGhost' } },
    virt_text_pos = 'inline',
    hl_mode = 'combine',
    priority = 200,
  }
  if #lines > 1 then
    local virt_lines = {}
    for i = 2, #lines do
      virt_lines[#virt_lines + 1] = { { lines[i], 'BatonGhost' } }
    end
    extmark.virt_lines = virt_lines
  end
  if #s.items > 1 then
    extmark.virt_text[#extmark.virt_text + 1] = { string.format('  (%d/%d)', s.index, #s.items), 'BatonGhostCount' }
  end
  local ok = pcall(api.nvim_buf_set_extmark, bufnr, M.ns, s.row, s.col, extmark)
  if not ok then
    shown[bufnr] = nil
  end
end

local function show(bufnr, client, items, row, col, index)
  index = math.max(1, math.min(index or 1, #items))
  local item = items[index]
  local text = remaining(bufnr, item, row, col, client.offset_encoding)
  shown[bufnr] = {
    client_id = client.id,
    items = items,
    index = index,
    row = row,
    col = col,
    tick = api.nvim_buf_get_changedtick(bufnr),
    consumed = 0,
    text = text,
    tail = tail_bytes(bufnr, item, row, col, client.offset_encoding),
  }
  render(bufnr)
  if shown[bufnr] then
    client:notify(baton().DID_SHOW_METHOD, {
      uri = vim.uri_from_bufnr(bufnr),
      length = vim.str_utfindex(text, 'utf-16'),
    })
  end
end

---Sends `textDocument/inlineCompletion` at the cursor now (triggerKind 1 = invoked, 2 = automatic).
---An invoked request gets the server's alternatives too (`completion.suggestions`).
---@param bufnr? integer default: the current buffer
---@param invoked? boolean true when the user asked for it
---@param step? integer show the item this many places after the first (-1: the last), not the first
function M.request(bufnr, invoked, step)
  bufnr = bufnr or api.nvim_get_current_buf()
  if api.nvim_get_current_buf() ~= bufnr then
    return
  end
  local client = baton().client(bufnr)
  if not client or not vim.lsp.buf_is_attached(bufnr, client.id) then
    return
  end
  cancel_pending(bufnr)
  local win = api.nvim_get_current_win()
  local params = vim.lsp.util.make_position_params(win, client.offset_encoding --[[@as baton.Encoding]]) --[[@as lsp.InlineCompletionParams]]
  params.context = { triggerKind = invoked and 1 or 2 }
  local row, col = cursor(win)
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local started = vim.uv.hrtime()
  local ok, id
  ok, id = client:request(METHOD, params, function(err, result)
    local p = pending[bufnr]
    if not p or p.id ~= id then
      return -- superseded
    end
    pending[bufnr] = nil
    if err or not result then
      return
    end
    local items = result.items or result
    if type(items) ~= 'table' or #items == 0 then
      return
    end
    -- Only show it where it was asked for.
    if not api.nvim_buf_is_valid(bufnr) or api.nvim_get_current_buf() ~= bufnr then
      return
    end
    local r, c = cursor()
    if api.nvim_buf_get_changedtick(bufnr) ~= tick or r ~= row or c ~= col then
      return
    end
    if not vim.startswith(api.nvim_get_mode().mode, 'i') then
      return
    end
    show(bufnr, client, items, row, col, step and (step % #items) + 1 or 1)
    if shown[bufnr] then
      M.last = { bufnr = bufnr, ms = (vim.uv.hrtime() - started) / 1e6, text = shown[bufnr].text, row = row, col = col }
      pcall(api.nvim_exec_autocmds, 'User', { pattern = 'BatonGhostShown', modeline = false, data = M.last })
    end
  end, bufnr)
  if ok and id then
    pending[bufnr] = { client_id = client.id, id = id, tick = tick, row = row, col = col }
  end
end

---Schedules a request after the client-side debounce.
---@param bufnr? integer default: the current buffer
function M.schedule(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
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
      if api.nvim_buf_is_valid(bufnr) and vim.startswith(api.nvim_get_mode().mode, 'i') then
        M.request(bufnr, false)
      end
    end)
  )
end

---True when a suggestion is shown in `bufnr`.
---@param bufnr? integer default: the current buffer
---@return boolean
function M.visible(bufnr)
  return shown[bufnr or api.nvim_get_current_buf()] ~= nil
end

---The text of the shown suggestion (what accept would insert), or nil.
---@param bufnr? integer default: the current buffer
---@return string?
function M.text(bufnr)
  local s = shown[bufnr or api.nvim_get_current_buf()]
  return s and s.text:sub(s.consumed + 1) or nil
end

---Inserts `piece` at the suggestion's cursor, replacing the `tail` bytes after it.
local function insert_at_cursor(bufnr, s, piece, tail)
  local lines = vim.split(piece, '\n', { plain = true })
  local line = api.nvim_buf_get_lines(bufnr, s.row, s.row + 1, false)[1] or ''
  local stop = math.min(#line, s.col + (tail or 0))
  api.nvim_buf_set_text(bufnr, s.row, s.col, s.row, stop, lines)
  local row = s.row + #lines - 1
  local col = #lines == 1 and s.col + #lines[1] or #lines[#lines]
  api.nvim_win_set_cursor(0, { row + 1, col })
  return row, col
end

local function run_accept_command(bufnr, s)
  local item = s.items[s.index]
  local client = vim.lsp.get_client_by_id(s.client_id)
  if client and item and item.command then
    client:exec_cmd(item.command, { bufnr = bufnr })
  end
end

---Inserts the whole suggestion and runs its accept command. Returns false when none is shown.
---@param bufnr? integer default: the current buffer
---@return boolean
function M.accept(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local s = shown[bufnr]
  if not s then
    return false
  end
  local piece = s.text:sub(s.consumed + 1)
  M.dismiss(bufnr)
  insert_at_cursor(bufnr, s, piece, s.tail)
  run_accept_command(bufnr, s)
  return true
end

---Inserts the part of the shown suggestion that `take(rest)` picks and keeps showing the rest
---(runs the accept command once all of it is in). Returns false when none is shown.
---@param bufnr? integer default: the current buffer
---@param take fun(rest: string): string
---@return boolean
local function accept_piece(bufnr, take)
  bufnr = bufnr or api.nvim_get_current_buf()
  local s = shown[bufnr]
  if not s then
    return false
  end
  local rest = s.text:sub(s.consumed + 1)
  local piece = take(rest)
  if piece == '' then
    piece = rest
  end
  cancel_pending(bufnr)
  clear_marks(bufnr)
  -- The replaced tail goes with the last piece: until then the closers stay after the cursor.
  local last = s.consumed + #piece >= #s.text
  local row, col = insert_at_cursor(bufnr, s, piece, last and s.tail or 0)
  s.consumed = s.consumed + #piece
  s.row, s.col = row, col
  s.tick = api.nvim_buf_get_changedtick(bufnr)
  if s.consumed >= #s.text then
    shown[bufnr] = nil
    run_accept_command(bufnr, s)
  else
    render(bufnr)
  end
  return true
end

---Inserts the next word of the suggestion and keeps showing the rest. Returns false when none
---is shown.
---@param bufnr? integer default: the current buffer
---@return boolean
function M.accept_word(bufnr)
  return accept_piece(bufnr, function(rest)
    return rest:match('^\n') or rest:match('^[ \t]*[%w_]+') or rest:match('^[ \t]*[^%w_%s]+') or rest
  end)
end

---Inserts the rest of the suggestion's current line with its line break (copilot.lua's
---accept_line; at a line break, the break and the next line) and keeps showing the rest.
---Returns false when none is shown.
---@param bufnr? integer default: the current buffer
---@return boolean
function M.accept_line(bufnr)
  return accept_piece(bufnr, function(rest)
    return rest:match('^\n?[^\n]*\n?') or rest
  end)
end

---Shows the next (`delta` = 1) or previous (-1) item. Requests one when nothing is shown
---(and returns false then); when only one is shown, asks for alternatives (an invoked request)
---and shows the next of them.
---@param delta integer
---@param bufnr? integer default: the current buffer
---@return boolean
function M.cycle(delta, bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local s = shown[bufnr]
  if not s then
    M.request(bufnr, true)
    return false
  end
  if #s.items < 2 then
    if s.consumed == 0 then
      M.request(bufnr, true, delta)
    end
    return true
  end
  s.index = (s.index - 1 + delta) % #s.items + 1
  local client = vim.lsp.get_client_by_id(s.client_id)
  local item = s.items[s.index] --[[@as lsp.InlineCompletionItem]]
  local encoding = client and client.offset_encoding or 'utf-16'
  ---@cast encoding baton.Encoding
  s.text = remaining(bufnr, item, s.row, s.col, encoding)
  s.tail = tail_bytes(bufnr, item, s.row, s.col, encoding)
  s.consumed = 0
  render(bufnr)
  return true
end

local function on_change(args)
  local bufnr = args.buf
  local s = shown[bufnr]
  if s then
    local r, c = cursor()
    if s.tick == api.nvim_buf_get_changedtick(bufnr) and r == s.row and c == s.col then
      return -- our own edit (accept word) or a move that did not move
    end
    M.dismiss(bufnr)
  end
  if opts.enabled and not M.builtin_available() then
    M.schedule(bufnr)
  end
end

---Called when a Baton client attaches to `bufnr`.
---@param bufnr integer
---@param client vim.lsp.Client
function M.attach(bufnr, client)
  if M.builtin_available() then
    if opts.enabled then
      pcall(vim.lsp.inline_completion.enable, true, { bufnr = bufnr, client_id = client.id })
    end
    return
  end
  local group = api.nvim_create_augroup('baton.ghost.' .. bufnr, { clear = true })
  api.nvim_create_autocmd(
    { 'InsertEnter', 'TextChangedI', 'CursorMovedI' },
    { group = group, buffer = bufnr, callback = on_change }
  )
  api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function(args)
      M.dismiss(args.buf)
    end,
  })
  api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function(args)
      M.dismiss(args.buf)
      if timers[args.buf] then
        timers[args.buf]:close()
        timers[args.buf] = nil
      end
      pcall(api.nvim_del_augroup_by_id, group)
    end,
  })
end

-- Keymaps -------------------------------------------------------------------------------------

---What each keymap does; each returns true when it handled the key.
---@type table<string, fun(): boolean>
M.actions = {
  accept = function()
    if M.builtin_available() then
      return vim.lsp.inline_completion.get() == true
    end
    return M.accept()
  end,
  accept_word = function()
    if M.builtin_available() then
      return false
    end
    return M.accept_word()
  end,
  accept_line = function()
    if M.builtin_available() then
      return false
    end
    return M.accept_line()
  end,
  next = function()
    if M.builtin_available() then
      vim.lsp.inline_completion.select({ count = 1 })
      return true
    end
    return M.cycle(1)
  end,
  prev = function()
    if M.builtin_available() then
      vim.lsp.inline_completion.select({ count = -1 })
      return true
    end
    return M.cycle(-1)
  end,
  dismiss = function()
    if M.builtin_available() then
      return false
    end
    local had = M.visible()
    M.dismiss()
    return had
  end,
  trigger = function()
    if M.builtin_available() then
      return false
    end
    M.request(nil, true)
    return true
  end,
  panel = function()
    require('baton.panel').open()
    return true
  end,
}

local function map(name, lhs)
  vim.keymap.set('i', lhs, function()
    if not M.actions[name]() then
      -- Nothing to act on: let the key do what it does without Baton.
      api.nvim_feedkeys(vim.keycode(lhs), 'n', false)
    end
  end, { desc = 'Baton: ' .. name:gsub('_', ' '), silent = true })
end

---The keymaps in force: action name → lhs.
---@type table<string, string>
M.mapped = {}

---Applies the ghost and keymap options (the merged |baton.Config|) and attaches to Baton's
---clients as they start.
---@param options baton.Config
function M.setup(options)
  opts = vim.tbl_extend('force', opts, options.ghost or {})
  api.nvim_set_hl(0, 'BatonGhost', { link = 'Comment', default = true })
  api.nvim_set_hl(0, 'BatonGhostCount', { link = 'NonText', default = true })
  for _, lhs in pairs(M.mapped) do
    pcall(vim.keymap.del, 'i', lhs)
  end
  M.mapped = {}
  if options.keymaps then
    for name, lhs in pairs(options.keymaps) do
      if lhs and M.actions[name] then
        map(name, lhs)
        M.mapped[name] = lhs
      end
    end
  end
  local group = api.nvim_create_augroup('baton.ghost', { clear = true })
  api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == baton().NAME then
        M.attach(args.buf, client)
      end
    end,
  })
end

return M
