-- tests/panel_spec.lua: the suggestions panel. `:Baton panel` lists the server's suggestions
-- (the scripted model answers differently at the alternatives' temperatures) in a split, <CR>
-- on the second inserts it at the original position as one undoable change, a changed buffer
-- is refused with a message, q closes, and <M-CR> opens it from Insert mode.
local T = require('helpers')
local reply = assert(T.env.code_reply, 'BATON_CODE_REPLY')
T.setup((assert(os.getenv('BATON_ALTS_URL'), 'BATON_ALTS_URL')))

local FILE = 'def add(a, b):\n    \n\n\nprint(add(1, 2))\n'
local dir = T.workspace({ ['calc.py'] = FILE })
local panel = require('baton.panel')
local api = vim.api

---The panel buffer of the current tab (nil when none is open).
local function panel_buf()
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    local b = api.nvim_win_get_buf(win)
    if vim.bo[b].filetype == 'batonpanel' then
      return b, win
    end
  end
end

---Waits for the panel to list `n` suggestions; returns its lines.
local function wait_listed(n)
  return T.wait(15000, function()
    local b = panel_buf()
    local lines = b and api.nvim_buf_get_lines(b, 0, -1, false) or {}
    return lines[1] == panel.header(1, n) and lines
  end, ('the panel listing %d suggestions'):format(n))
end

---Opens calc.py afresh (as on disk) with the cursor at the end of the blank line 2, in Normal
---mode on its last space.
local function open_calc()
  vim.cmd('silent! %bwipeout!')
  local bufnr = T.open(dir .. '/calc.py')
  api.nvim_win_set_cursor(0, { 2, 3 })
  return bufnr
end

T.test(':Baton panel lists the suggestions; <CR> on the second inserts it as one undo step', function()
  local bufnr = open_calc()
  vim.cmd('Baton panel')
  local lines = wait_listed(3)
  T.eq({
    panel.header(1, 3),
    reply,
    panel.header(2, 3),
    'return b + a',
    panel.header(3, 3),
    'return sum((a, b))',
  }, lines, 'the usual suggestion first, then the alternatives, no duplicates')
  local pbuf, pwin = panel_buf()
  T.eq(pwin, api.nvim_get_current_win(), 'the panel has the focus')
  T.eq(false, vim.bo[pbuf].modifiable, 'the panel is read-only')
  api.nvim_win_set_cursor(0, { 4, 0 }) -- the second suggestion's line
  T.feed('<CR>')
  T.eq(nil, panel_buf(), 'accepting closes the panel')
  T.eq(bufnr, api.nvim_get_current_buf(), 'back in the source buffer')
  T.eq({ 'def add(a, b):', '    return b + a', '' }, api.nvim_buf_get_lines(bufnr, 0, 3, false), 'inserted')
  T.eq({ 2, #'    return b + a' - 1 }, api.nvim_win_get_cursor(0), 'the cursor on the last inserted character')
  vim.cmd('undo')
  T.eq({ 'def add(a, b):', '    ', '' }, api.nvim_buf_get_lines(bufnr, 0, 3, false), 'one undo reverts it')
end)

T.test('a buffer that changed since the panel opened is refused with a message', function()
  local bufnr = open_calc()
  local msgs = T.capture_notify()
  vim.cmd('Baton panel 3')
  wait_listed(3)
  api.nvim_buf_set_lines(bufnr, 4, 5, false, { 'print(add(3, 4))' })
  api.nvim_win_set_cursor(0, { 3, 0 }) -- the second suggestion's header
  T.feed('<CR>')
  T.truthy(T.find(msgs, 'buffer changed since the panel was opened'), 'the message: ' .. vim.inspect(msgs))
  T.eq({ '    ' }, api.nvim_buf_get_lines(bufnr, 1, 2, false), 'nothing inserted')
  T.truthy(panel_buf(), 'the panel stays open')
  T.feed('q')
  T.eq(nil, panel_buf(), 'q closes the panel')
  T.eq({ 'def add(a, b):', '    ', '', '', 'print(add(3, 4))' }, api.nvim_buf_get_lines(bufnr, 0, -1, false))
end)

T.test('<M-CR> in Insert mode opens the panel at the insert position', function()
  local bufnr = open_calc()
  T.feed('A')
  T.feed('<M-CR>')
  wait_listed(3)
  T.eq('n', api.nvim_get_mode().mode, 'Normal mode in the panel')
  api.nvim_win_set_cursor(0, { 6, 0 })
  T.feed('<CR>')
  T.eq({ '    return sum((a, b))' }, api.nvim_buf_get_lines(bufnr, 1, 2, false), 'the third, at the insert position')
end)

T.run()
