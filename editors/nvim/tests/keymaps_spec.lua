-- tests/keymaps_spec.lua: setup() with no options gives the defaults (command, keymaps,
-- capabilities); setup() rejects options of the wrong type with vim.validate's message naming
-- the option; setup() with user keymaps replaces them, a disabled keymap is not mapped, a
-- mapped key without a suggestion does what it did without Baton, and a multi-line suggestion
-- draws its further lines as virt_lines and is accepted whole.
local T = require('helpers')
local multi = assert(os.getenv('BATON_MULTI_REPLY'), 'BATON_MULTI_REPLY')

T.test('setup() with no options: defaults', function()
  require('baton').setup()
  T.eq(2, vim.fn.exists(':Baton'), ':Baton exists')
  local cfg = vim.lsp.config.baton
  T.eq('baton', cfg.cmd[1], 'default command')
  T.truthy(vim.tbl_contains(cfg.filetypes, 'python') and vim.tbl_contains(cfg.filetypes, 'rust'), 'filetypes')
  T.eq({ '.git', 'baton.toml' }, cfg.root_markers, 'root markers')
  T.truthy(vim.tbl_get(cfg.capabilities, 'textDocument', 'inlineCompletion'), 'inlineCompletion capability')
  T.eq(true, vim.tbl_get(cfg.capabilities, 'experimental', 'baton', 'status'), 'status capability')
  for _, lhs in ipairs({ '<M-l>', '<M-w>', '<M-]>', '<M-[>', '<C-]>', '<M-CR>' }) do
    T.truthy(vim.fn.maparg(lhs, 'i') ~= '', lhs .. ' mapped in insert mode')
  end
  T.eq('', require('baton').status(), 'statusline string without a client')
  T.truthy(vim.lsp.commands['baton.edit'], 'client-side baton.edit handler')
end)

T.test('setup() rejects an option of the wrong type, naming it, and keeps the options in force', function()
  local baton = require('baton')
  local before = vim.deepcopy(baton.options)
  local cases = {
    { { cmd = 'baton' }, 'cmd: expected a non%-empty list of strings' },
    { { cmd = {} }, 'cmd: expected a non%-empty list of strings' },
    { { log_file = 1 }, 'log_file: expected a path or false' },
    { { settings = 'x' }, 'settings: expected table' },
    { { filetypes = { 'python', 2 } }, 'filetypes: expected a list of strings' },
    { { ghost = { enabled = 'yes' } }, 'ghost.enabled: expected boolean' },
    { { ghost = { debounce_ms = -5 } }, 'ghost.debounce_ms: expected a whole number of milliseconds' },
    { { keymaps = true }, 'keymaps: expected a table or false' },
    { { keymaps = { accept = 1 } }, 'keymaps.accept: expected a key %(lhs%) or false' },
    { 'baton', 'opts: expected table' },
  }
  for _, case in ipairs(cases) do
    local ok, err = pcall(baton.setup, case[1])
    T.eq(false, ok, vim.inspect(case[1]) .. ' is rejected')
    T.truthy(tostring(err):find(case[2]), ('%s: the error names the option (%s)'):format(vim.inspect(case[1]), err))
  end
  T.eq(before, baton.options, 'the options in force are unchanged')
  -- Valid options of every kind still pass.
  baton.setup({ log_file = false, ghost = { debounce_ms = 0 }, keymaps = false })
  T.eq(false, baton.options.keymaps, 'keymaps = false is accepted')
end)

local bufnr
T.test('user keymaps replace the defaults; false disables one', function()
  T.setup(os.getenv('BATON_MULTI_URL'), { keymaps = { accept = '<Tab>', dismiss = false } })
  T.eq('', vim.fn.maparg('<M-l>', 'i'), '<M-l> no longer mapped')
  T.eq('', vim.fn.maparg('<C-]>', 'i'), 'dismiss disabled')
  T.truthy(vim.fn.maparg('<Tab>', 'i') ~= '', '<Tab> mapped')
  T.truthy(vim.fn.maparg('<M-w>', 'i') ~= '', 'unchanged defaults stay')
  local dir = T.workspace({ ['calc.py'] = 'def add(a, b):\n    \n\nprint(add(1, 2))\n' })
  bufnr = T.open(dir .. '/calc.py')
end)

T.test('a mapped key without a suggestion keeps its own meaning', function()
  vim.bo.expandtab, vim.bo.softtabstop = false, 0
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  -- Insert on the empty line 3 and press <Tab> before any answer can arrive.
  T.feed('i<Tab>')
  T.eq('\t', vim.api.nvim_buf_get_lines(bufnr, 2, 3, false)[1], 'a tab was inserted')
  T.feed('<Esc>')
  vim.api.nvim_buf_set_lines(bufnr, 2, 3, false, { '' })
end)

T.test('a multi-line suggestion: first line inline, the rest as virt_lines; <Tab> accepts all', function()
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  T.feed('A')
  local mark = T.wait(15000, function()
    return T.ghost_marks(bufnr)[1]
  end, 'the ghost extmark')
  local want = vim.split(multi, '\n', { plain = true })
  T.eq(want[1], mark[4].virt_text[1][1], 'first line inline')
  local virt = vim.tbl_map(function(l)
    return l[1][1]
  end, mark[4].virt_lines or {})
  T.eq(vim.list_slice(want, 2), virt, 'further lines as virt_lines')
  T.feed('<Tab>')
  want[1] = '    ' .. want[1]
  T.eq(want, vim.api.nvim_buf_get_lines(bufnr, 1, 1 + #want, false), 'buffer after accept')
end)

T.test('accept line takes a multi-line suggestion one line at a time', function()
  local want = vim.split(multi, '\n', { plain = true })
  T.feed('<Esc>')
  vim.api.nvim_buf_set_lines(bufnr, 1, 1 + #want, false, { '    ' })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  T.feed('A')
  T.wait(15000, function()
    return T.ghost_marks(bufnr)[1]
  end, 'the ghost extmark')
  T.feed('<Cmd>lua require("baton.ghost").accept_line()<CR>')
  T.eq({ '    ' .. want[1], '' }, vim.api.nvim_buf_get_lines(bufnr, 1, 3, false), 'the first line and its break')
  T.eq(table.concat(vim.list_slice(want, 2), '\n'), require('baton.ghost').text(bufnr), 'the other lines still shown')
end)

T.run()
