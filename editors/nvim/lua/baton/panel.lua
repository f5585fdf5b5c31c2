-- baton.panel: the suggestions panel (`:Baton panel`, insert-mode <M-CR>). Asks the server for
-- up to 10 suggestions at the cursor (`baton/completionPanel`) and lists them in a scratch split,
-- each a block under a header line. <CR> on a block accepts that suggestion into the source
-- buffer at the position the panel was opened for, as one undoable change, when the buffer did
-- not change since (else it says so and changes nothing); q closes the panel.

---One suggestion of `baton/completionPanel` (server/lsp/ext.rs `PanelItem`).
---@class baton.PanelItem
---@field insertText string
---@field range lsp.Range

---Result of `baton/completionPanel` (server/lsp/ext.rs `CompletionPanelResult`).
---@class baton.PanelResult
---@field version integer
---@field items baton.PanelItem[]

---A panel buffer's state.
---@class (private) baton.panel.State
---@field source integer the source buffer
---@field client_id integer
---@field tick integer the source's changedtick when the panel was asked for
---@field items baton.PanelItem[]
---@field starts integer[] 1-based line of each item's header in the panel

local M = {}

local api = vim.api

M.METHOD = require('baton').PANEL_METHOD
---Most suggestions the server gives (its cap).
M.MAX = 10

---Panel state by panel buffer.
---@type table<integer, baton.panel.State>
local panels = {}

---@param msg string
---@param level? integer
local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = 'Baton' })
end

---The header line above suggestion `i` of `n`.
---@param i integer
---@param n integer
---@return string
function M.header(i, n)
  return ('── Suggestion %d/%d ──'):format(i, n)
end

---The request's position: the cursor in Insert mode; in Normal mode just after the character
---under the cursor (where `a` inserts, so where Insert mode left off before <Esc>).
---@param win integer
---@param encoding baton.Encoding
---@return lsp.Position
function M.position(win, encoding)
  local pos = api.nvim_win_get_cursor(win) --[[@as [integer, integer] ]]
  local row, col = pos[1] - 1, pos[2]
  local bufnr = api.nvim_win_get_buf(win)
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local mode = api.nvim_get_mode().mode
  if not mode:match('^i') and col < #line then
    col = col + #vim.fn.strcharpart(line:sub(col + 1), 0, 1)
  end
  local ok, character = pcall(vim.str_utfindex, line, encoding, math.min(col, #line) --[[@as integer]], false)
  return { line = row, character = ok and character or 0 } --[[@as lsp.Position]]
end

---The panel's lines for `items`, and the line of each item's header.
---@param items baton.PanelItem[]
---@return string[] lines, integer[] starts
function M.render(items)
  local lines, starts = {}, {}
  for i, item in ipairs(items) do
    starts[i] = #lines + 1
    lines[#lines + 1] = M.header(i, #items)
    vim.list_extend(lines, vim.split(item.insertText, '\n', { plain = true }))
  end
  return lines, starts
end

---Sets the panel buffer's text (it stays unmodifiable for the user).
---@param buf integer
---@param lines string[]
local function set_lines(buf, lines)
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
end

---The index of the item whose block holds line `lnum` (1-based) of the panel.
---@param starts integer[]
---@param lnum integer
---@return integer?
function M.item_at(starts, lnum)
  local found
  for i, start in ipairs(starts) do
    if start <= lnum then
      found = i
    end
  end
  return found
end

---Accepts the suggestion under the cursor of panel `buf` into its source buffer.
---@param buf integer
---@return boolean accepted
function M.accept(buf)
  local p = panels[buf]
  local lnum = (api.nvim_win_get_cursor(0) --[[@as [integer, integer] ]])[1]
  local i = p and M.item_at(p.starts, lnum)
  local item = i and p.items[i]
  if not p or not item then
    notify('Baton: no suggestion here', vim.log.levels.WARN)
    return false
  end
  if not api.nvim_buf_is_valid(p.source) then
    notify('Baton: the buffer the suggestions were for is gone', vim.log.levels.WARN)
    return false
  end
  if api.nvim_buf_get_changedtick(p.source) ~= p.tick then
    notify(
      'Baton: the buffer changed since the panel was opened, so the suggestion would land in the wrong place; '
        .. 'run :Baton panel again',
      vim.log.levels.WARN
    )
    return false
  end
  local client = vim.lsp.get_client_by_id(p.client_id)
  local encoding = (client and client.offset_encoding or 'utf-16') --[[@as baton.Encoding]]
  local start = item.range.start
  local line = api.nvim_buf_get_lines(p.source, start.line, start.line + 1, false)[1] or ''
  local ok, col = pcall(vim.str_byteindex, line, encoding, start.character, false)
  col = ok and col or #line
  vim.lsp.util.apply_text_edits({ { range = item.range, newText = item.insertText } }, p.source, encoding)
  local inserted = vim.split(item.insertText, '\n', { plain = true })
  local row = start.line + #inserted
  local end_col = #inserted == 1 and col + #inserted[1] or #inserted[#inserted]
  api.nvim_win_close(0, true)
  local win = vim.fn.bufwinid(p.source)
  if win ~= -1 then
    api.nvim_set_current_win(win)
    pcall(api.nvim_win_set_cursor, win, { row, end_col })
  end
  return true
end

---Opens the panel for the cursor of the current window: a scratch split that fills in when the
---server answers. `count` suggestions (1 to 10, default 10).
---@param count? integer
function M.open(count)
  local source = api.nvim_get_current_buf()
  local source_win = api.nvim_get_current_win()
  local client = require('baton').client(source)
  if not client or not vim.lsp.buf_is_attached(source, client.id) then
    notify('Baton: no Baton language server is attached to this buffer (see :checkhealth baton)', vim.log.levels.WARN)
    return
  end
  local encoding = client.offset_encoding --[[@as baton.Encoding]]
  count = math.max(1, math.min(M.MAX, math.floor(count or M.MAX)))
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(source) },
    position = M.position(source_win, encoding),
    count = count,
  }
  local version = vim.lsp.util.buf_versions[source]
  if version and version > 0 then
    params.textDocument.version = version
  end
  local tick = api.nvim_buf_get_changedtick(source)
  vim.cmd('stopinsert')

  local buf = api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  api.nvim_buf_set_name(buf, ('baton://panel/%d/%d'):format(source, buf))
  vim.cmd('belowright split')
  api.nvim_win_set_buf(0, buf)
  vim.bo[buf].filetype = 'batonpanel'
  set_lines(buf, { ('Baton: asking the model for up to %d suggestions…'):format(count) })
  panels[buf] = { source = source, client_id = client.id, tick = tick, items = {}, starts = {} }
  api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
      panels[buf] = nil
    end,
  })
  vim.keymap.set('n', '<CR>', function()
    M.accept(buf)
  end, { buffer = buf, desc = 'Baton: accept this suggestion' })
  vim.keymap.set('n', 'q', '<Cmd>close<CR>', { buffer = buf, desc = 'Baton: close the panel' })

  client:request(M.METHOD, params, function(err, result)
    local p = panels[buf]
    if not p or not api.nvim_buf_is_valid(buf) then
      return -- closed meanwhile
    end
    if err then
      local why = err.message or vim.inspect(err)
      set_lines(buf, { 'Baton: no suggestions: ' .. why, '', 'q closes this panel.' })
      notify('Baton: the suggestions panel failed: ' .. why, vim.log.levels.ERROR)
      return
    end
    ---@cast result baton.PanelResult?
    local items = result and result.items or {}
    if #items == 0 then
      set_lines(buf, { 'Baton: the model has no suggestion here.', '', 'q closes this panel.' })
      return
    end
    local lines, starts = M.render(items)
    p.items, p.starts = items, starts
    set_lines(buf, lines)
    local ns = api.nvim_create_namespace('baton.panel')
    for _, start in ipairs(starts) do
      api.nvim_buf_set_extmark(buf, ns, start - 1, 0, { line_hl_group = 'BatonPanelHeader' })
    end
    if api.nvim_get_current_buf() == buf then
      api.nvim_win_set_cursor(0, { 1, 0 })
    end
  end, source)
end

---Defines the panel's highlight group.
function M.setup()
  api.nvim_set_hl(0, 'BatonPanelHeader', { link = 'Title', default = true })
end

return M
