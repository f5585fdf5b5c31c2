-- tests/alternatives_spec.lua: several suggestions on Neovim 0.11. Ghost text shown while typing
-- is one item; <M-]> then asks the server for alternatives (an invoked request), shows the next
-- one with its count `(2/3)`, and <M-]> / <M-[> cycle through the three.
local T = require('helpers')
local reply = assert(T.env.code_reply, 'BATON_CODE_REPLY')
T.setup((assert(os.getenv('BATON_ALTS_URL'), 'BATON_ALTS_URL')))

local dir = T.workspace({ ['calc.py'] = 'def add(a, b):\n    \n\n\nprint(add(1, 2))\n' })
local bufnr
local ghost = require('baton.ghost')

---The ghost's first line and its count (`(i/n)`, or nil).
local function shown()
  local marks = T.ghost_marks(bufnr)
  local vt = marks[1] and marks[1][4].virt_text or {}
  return vt[1] and vt[1][1], vt[2] and vim.trim(vt[2][1])
end

T.test('<M-]> on one suggestion shows the next of three alternatives, and cycles', function()
  bufnr = T.open(dir .. '/calc.py')
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  T.feed('A')
  T.wait(15000, function()
    return ghost.text(bufnr) == reply
  end, 'the suggestion shown while typing')
  T.eq({ reply, nil }, { shown() }, 'one item: no count')

  T.feed('<M-]>')
  T.wait(15000, function()
    return select(2, shown()) == '(2/3)'
  end, 'the second of three alternatives')
  local second = ghost.text(bufnr)
  T.feed('<M-]>')
  T.eq('(3/3)', select(2, shown()), 'count after <M-]>')
  local third = ghost.text(bufnr)
  local alternatives = { second, third }
  table.sort(alternatives)
  T.eq({ 'return b + a', 'return sum((a, b))' }, alternatives, 'the two alternatives')
  T.feed('<M-]>')
  T.eq({ reply, '(1/3)' }, { shown() }, 'back to the first')
  T.feed('<M-[>')
  T.eq({ third, '(3/3)' }, { shown() }, '<M-[> goes back')

  T.feed('<M-l>')
  T.eq({ '    ' .. third }, vim.api.nvim_buf_get_lines(bufnr, 1, 2, false), 'accept takes the shown one')
end)

T.run()
