-- tests/unreachable_spec.lua: pointed at a dead port, the statusline says `Baton: unreachable`
-- (from baton/status) and :Baton health says why; no ghost text appears.
local T = require('helpers')
-- Port 9 (discard) on 127.0.0.1: nothing listens there, connections are refused.
T.setup('http://127.0.0.1:9')
local dir = T.workspace({ ['calc.py'] = 'def add(a, b):\n    \n' })
local msgs = T.capture_notify()

T.test('statusline shows unreachable from baton/status', function()
  T.open(dir .. '/calc.py')
  T.wait(10000, function()
    return require('baton').status() == 'Baton: unreachable'
  end, 'Baton: unreachable')
  T.truthy(require('baton').status_details().message, 'status message explains')
end)

T.test(':Baton health reports the model server unreachable', function()
  vim.cmd('Baton health')
  local m = T.wait(5000, function()
    return T.find(msgs, 'model server: UNREACHABLE')
  end, ':Baton health message')
  T.truthy(m:find('127.0.0.1:9', 1, true), 'URL in ' .. m)
end)

T.test('typing draws no ghost text and keeps the buffer as typed', function()
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  T.feed('Ar')
  -- The request fails fast (connection refused): wait until the server has answered it.
  T.wait(10000, function()
    return T.read(T.log_file):find('completion failed', 1, true)
  end, 'the failed completion in the server log')
  T.tick(50)
  T.eq(0, #T.ghost_marks(0), 'ghost extmarks')
  T.eq({ '    r' }, vim.api.nvim_buf_get_lines(0, 1, 2, false), 'buffer')
end)

T.run()
