-- tests/commands_spec.lua: `:Baton status`, `:Baton health`, `:checkhealth baton`, completion of
-- the subcommands, unknown subcommands and ids, `:Baton restart` and `:Baton log`.
local T = require('helpers')
T.setup(T.env.code_url)
local dir = T.workspace({ ['main.rs'] = 'fn main() {\n    \n}\n' })
local bufnr
local msgs = T.capture_notify()

T.test(':Baton status reports the state, provider and model', function()
  bufnr = T.open(dir .. '/main.rs')
  T.wait(5000, function()
    return require('baton').status() == 'Baton: idle'
  end, 'Baton: idle (the startup model check)')
  vim.cmd('Baton status')
  local m = T.wait(2000, function()
    return T.find(msgs, '^Baton: idle')
  end, ':Baton status message')
  T.truthy(m:find('openai qwen2.5-coder', 1, true), 'provider and model in ' .. m)
end)

T.test(':Baton health shows baton/health', function()
  vim.cmd('Baton health')
  local m = T.wait(5000, function()
    return T.find(msgs, 'model server: reachable')
  end, ':Baton health message')
  T.truthy(m:find(T.env.code_url .. '/v1', 1, true), 'base URL in ' .. m)
  T.truthy(m:find('position encoding: utf', 1, true), 'encoding in ' .. m)
  T.eq(true, require('baton.commands').last_health.reachable, 'last_health.reachable')
end)

T.test(':checkhealth baton reports the binary, Neovim and a reachable server', function()
  vim.cmd('checkhealth baton')
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  vim.cmd('bwipeout')
  T.truthy(text:find('baton 0%.'), '`baton --version` in the report:\n' .. text)
  T.truthy(text:find('Neovim 0.11.4', 1, true), 'Neovim version in the report')
  T.truthy(text:find('model server: reachable', 1, true), 'reachable in the report:\n' .. text)
  T.truthy(not text:find('ERROR'), 'no ERROR in the report:\n' .. text)
end)

T.test(':Baton completes subcommands, including the task and pull request ones', function()
  local names = vim.fn.getcompletion('Baton ', 'cmdline')
  for _, want in ipairs({
    'delegate',
    'tasks',
    'review',
    'apply',
    'merge',
    'request-changes',
    'discard',
    'approve-plan',
    'resume',
    'show',
    'edit',
    'health',
  }) do
    T.truthy(vim.tbl_contains(names, want), want .. ' in ' .. vim.inspect(names))
  end
  T.eq({ 'merge' }, vim.fn.getcompletion('Baton me', 'cmdline'), 'prefix completion')
  T.eq({ 'all' }, vim.fn.getcompletion('Baton tasks ', 'cmdline'), 'tasks argument')
end)

T.test(':Baton merge with a bad id says so', function()
  vim.cmd('Baton merge abc')
  T.truthy(
    T.find(msgs, '`abc` is not a task id') or T.find(msgs, 'does not support `baton.pr.merge`'),
    'message for a bad id'
  )
end)

T.test('an unknown subcommand lists the known ones', function()
  vim.cmd('Baton frobnicate')
  local m = T.truthy(T.find(msgs, 'unknown subcommand `frobnicate`'), 'unknown subcommand message')
  T.truthy(m:find('health', 1, true) and m:find('restart', 1, true), 'lists subcommands: ' .. m)
end)

T.test(':Baton restart starts a new client', function()
  local old = require('baton').client(bufnr).id
  vim.cmd('Baton restart')
  T.wait(10000, function()
    local c = require('baton').client(bufnr)
    return c and c.id ~= old and c.initialized and vim.lsp.buf_is_attached(bufnr, c.id)
  end, 'a new attached client')
  T.wait(5000, function()
    return require('baton').status() == 'Baton: idle'
  end, 'idle status from the new client')
end)

T.test(':Baton log opens the server log', function()
  vim.cmd('Baton log')
  T.eq(vim.fn.fnamemodify(T.log_file, ':p'), vim.api.nvim_buf_get_name(0), 'log buffer name')
  T.truthy(
    table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n'):find('baton language server starting', 1, true),
    'log content'
  )
  vim.cmd('close')
end)

T.run()
