-- tests/ghost_spec.lua: ghost text on Neovim 0.11 against the real server and the scripted
-- model: it appears with the model's text, accept inserts it and reports `baton.accepted`,
-- accept word takes one word, dismiss clears it, and the statusline shows `baton/status`.
local T = require('helpers')
local reply = assert(T.env.code_reply, 'BATON_CODE_REPLY')
T.setup(T.env.code_url)

local dir = T.workspace({ ['calc.py'] = 'def add(a, b):\n    \n\n\nprint(add(1, 2))\n' })
local bufnr, client
local ghost = require('baton.ghost')

local function first_line(s)
  return (s:gsub('\n.*', ''))
end

local function wait_ghost()
  return T.wait(15000, function()
    local marks = T.ghost_marks(bufnr)
    return #marks > 0 and marks[1]
  end, 'the ghost text extmark')
end

T.test('the client attaches with inline completion and status declared', function()
  bufnr, client = T.open(dir .. '/calc.py')
  T.truthy(client.server_capabilities.inlineCompletionProvider, 'server inlineCompletionProvider')
  T.eq(true, vim.tbl_get(client.config.capabilities, 'experimental', 'baton', 'status'), 'experimental.baton.status')
  T.truthy(vim.tbl_get(client.config.capabilities, 'textDocument', 'inlineCompletion'), 'inlineCompletion capability')
end)

T.test('ghost text appears with the scripted text while typing', function()
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  T.feed('A')
  local mark = wait_ghost()
  local d = mark[4]
  T.eq(1, mark[2], 'ghost row')
  T.eq(4, mark[3], 'ghost col')
  T.eq('inline', d.virt_text_pos, 'virt_text_pos')
  T.eq(first_line(reply), d.virt_text[1][1], 'ghost first line')
  T.eq(reply, ghost.text(bufnr), 'ghost text')
  T.eq({ '    ' }, vim.api.nvim_buf_get_lines(bufnr, 1, 2, false), 'buffer unchanged while the ghost shows')
end)

T.test('statusline shows idle from a baton/status notification after a completion', function()
  T.wait(5000, function()
    return require('baton').status() == 'Baton: idle'
  end, 'Baton: idle')
  local d = require('baton').status_details()
  T.eq('idle', d.state, 'status state')
  T.eq('qwen2.5-coder', d.model, 'status model')
end)

T.test('accept (<M-l>) inserts the suggestion and the server records baton.accepted', function()
  T.truthy(ghost.visible(bufnr), 'a ghost is visible before accepting')
  T.feed('<M-l>')
  local want = vim.split('    ' .. reply, '\n', { plain = true })
  T.eq(want, vim.api.nvim_buf_get_lines(bufnr, 1, 1 + #want, false), 'buffer after accept')
  T.eq({ 1 + #want, #want[#want] }, vim.api.nvim_win_get_cursor(0), 'cursor at the end of the insertion')
  T.wait(5000, function()
    return T.read(T.log_file):find('suggestion accepted', 1, true)
  end, '"suggestion accepted" in the server log')
end)

T.test('dismiss (<C-]>) clears the ghost text', function()
  vim.cmd('stopinsert')
  T.tick(20)
  vim.api.nvim_buf_set_lines(bufnr, 1, 2 + select(2, reply:gsub('\n', '')), false, { '    ' })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  T.feed('A')
  wait_ghost()
  T.feed('<C-]>')
  T.eq(0, #T.ghost_marks(bufnr), 'extmarks after dismiss')
  T.eq(false, ghost.visible(bufnr), 'visible after dismiss')
  T.eq({ '    ' }, vim.api.nvim_buf_get_lines(bufnr, 1, 2, false), 'dismiss leaves the buffer alone')
end)

T.test('accept word (<M-w>) inserts one word and keeps the rest as ghost text', function()
  T.feed(' ')
  T.feed('<BS>')
  wait_ghost()
  T.feed('<M-w>')
  local word = reply:match('^[%w_]+')
  T.eq({ '    ' .. word }, vim.api.nvim_buf_get_lines(bufnr, 1, 2, false), 'buffer after accept word')
  T.eq(reply:sub(#word + 1), ghost.text(bufnr), 'ghost text after accept word')
  local marks = T.ghost_marks(bufnr)
  T.eq(1, #marks, 'one ghost extmark after accept word')
  T.eq(4 + #word, marks[1][3], 'ghost moved to the cursor')
end)

T.test('leaving insert mode clears the ghost text', function()
  T.truthy(ghost.visible(bufnr), 'ghost visible before <Esc>')
  T.feed('<Esc>')
  T.eq(0, #T.ghost_marks(bufnr), 'extmarks after <Esc>')
end)

T.test('accept line (<M-L>) on a one-line suggestion inserts all of it', function()
  vim.api.nvim_buf_set_lines(bufnr, 1, 2, false, { '    ' })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  T.feed('A')
  wait_ghost()
  T.feed('<M-L>')
  T.eq({ '    ' .. reply }, vim.api.nvim_buf_get_lines(bufnr, 1, 2, false), 'buffer after accept line')
  T.eq(false, ghost.visible(bufnr), 'nothing left to show')
  T.feed('<Esc>')
end)

T.run()
