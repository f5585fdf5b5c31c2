-- tests/first_hour_spec.lua: what a new user meets first after the README's install: `:help
-- baton` works (doc/tags is committed and current), and a missing `baton` binary is said with
-- vim.notify instead of only in the LSP log.
local T = require('helpers')
local msgs = T.capture_notify()
local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local doc = vim.fn.fnamemodify(here .. '/../doc', ':p')

T.test(':help baton opens the plugin help (doc/tags is committed)', function()
  vim.cmd('help baton')
  T.truthy(vim.api.nvim_buf_get_name(0):match('doc/baton%.txt$'), 'help buffer ' .. vim.api.nvim_buf_get_name(0))
  vim.cmd('help :Baton-fix')
  T.truthy(vim.api.nvim_get_current_line():find('*:Baton-fix*', 1, true), 'the :Baton-fix tag')
  vim.cmd('helpclose')
end)

T.test('the committed doc/tags is what :helptags makes of doc/baton.txt', function()
  local fresh = T.env.tmp .. '/helptags'
  vim.fn.mkdir(fresh, 'p')
  vim.fn.writefile(vim.fn.readfile(doc .. 'baton.txt', 'b'), fresh .. '/baton.txt', 'b')
  vim.cmd('helptags ' .. vim.fn.fnameescape(fresh))
  T.eq(
    T.read(fresh .. '/tags'),
    T.read(doc .. 'tags'),
    'doc/tags is stale: run `nvim --headless -c "helptags editors/nvim/doc" -c q`'
  )
end)

T.test('setup with a missing baton binary says so with vim.notify', function()
  require('baton').setup({ cmd = { '/nonexistent/bin/baton' } })
  local m = T.find(msgs, 'not found or not executable')
  T.truthy(m, 'a notification in ' .. vim.inspect(msgs))
  T.truthy(m:find('/nonexistent/bin/baton', 1, true) and m:find('cargo install', 1, true), m)
  T.eq(vim.log.levels.ERROR, msgs[#msgs].level, 'an error')
end)

T.run()
