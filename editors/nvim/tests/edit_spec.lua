-- tests/edit_spec.lua: model edits. The code action list for a visual selection offers Baton's
-- edit; choosing it prompts with vim.ui.input (the client-side `baton.edit` handler), the server
-- asks the scripted model (a fenced block) and applies the result with workspace/applyEdit.
-- `:Baton edit` on a line range does the same without the code action menu.
local T = require('helpers')
T.setup(T.env.edit_url)

local original = { 'def add(a, b):', '    return a+b', '', 'print(add(1, 2))' }
local dir = T.workspace({ ['calc.py'] = table.concat(original, '\n') .. '\n' })
local bufnr

local function stub_ui(pick_title)
  local seen = { titles = {}, prompts = {} }
  vim.ui.select = function(items, opts, on_choice)
    local chosen
    for i, it in ipairs(items) do
      local title = opts.format_item and opts.format_item(it) or tostring(it)
      seen.titles[#seen.titles + 1] = title
      if title:find(pick_title, 1, true) and not chosen then
        chosen = i
      end
    end
    on_choice(chosen and items[chosen] or nil, chosen)
  end
  vim.ui.input = function(opts, on_confirm)
    seen.prompts[#seen.prompts + 1] = opts.prompt
    on_confirm('rename the parameters to x and y')
  end
  return seen
end

local function wait_rewritten()
  T.wait(15000, function()
    return vim.api.nvim_buf_get_lines(bufnr, 0, 1, false)[1] == 'def add(x, y):'
  end, 'the buffer to be rewritten by the edit')
  T.eq(
    { 'def add(x, y):', '    return x + y', '', 'print(add(1, 2))' },
    vim.api.nvim_buf_get_lines(bufnr, 0, -1, false),
    'buffer after the edit'
  )
end

T.test('code actions for a visual selection include Baton edit; choosing it prompts and edits', function()
  bufnr = T.open(dir .. '/calc.py')
  local seen = stub_ui('Baton: edit selection')
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  -- A real linewise visual selection, then the code action menu from visual mode.
  T.feed('Vj<Cmd>lua vim.lsp.buf.code_action()<CR>')
  T.wait(5000, function()
    return #seen.titles > 0
  end, 'the code action menu')
  T.truthy(
    vim.tbl_contains(seen.titles, 'Baton: edit selection with instruction…'),
    'Baton edit in ' .. vim.inspect(seen.titles)
  )
  T.wait(5000, function()
    return #seen.prompts > 0
  end, 'the instruction prompt (vim.ui.input)')
  wait_rewritten()
end)

T.test('the edit is one undo step', function()
  vim.cmd('stopinsert')
  T.feed('<Esc>u')
  T.eq(original, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), 'buffer after undo')
end)

T.test(':Baton edit on a line range sends the instruction and edits', function()
  local seen = stub_ui('nothing')
  vim.cmd('1,2Baton edit rename the parameters')
  T.eq(0, #seen.prompts, 'no prompt when the instruction is given')
  wait_rewritten()
end)

T.test(":Baton fix offers fix with the model for another source's diagnostic and runs it", function()
  vim.cmd('silent undo')
  T.eq(original, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), 'buffer before the fix')
  local ns = vim.api.nvim_create_namespace('some_linter')
  vim.diagnostic.set(ns, bufnr, {
    { lnum = 1, col = 4, end_col = 16, message = 'parameters named a and b', source = 'lint', severity = 2 },
  })
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  local seen = stub_ui('Baton: fix with the model')
  vim.cmd('1,2Baton fix')
  T.wait(5000, function()
    return #seen.titles > 0
  end, 'the :Baton fix menu')
  T.truthy(
    vim.tbl_contains(seen.titles, 'Baton: fix with the model: parameters named a and b'),
    'the fix in ' .. vim.inspect(seen.titles)
  )
  -- The scripted model answers every edit with the same two lines; the fix rewrites line 2.
  T.wait(15000, function()
    return vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1] == 'def add(x, y):'
  end, 'the model edit of the fix on line 2')
  T.eq(original[1], vim.api.nvim_buf_get_lines(bufnr, 0, 1, false)[1], 'line 1 untouched')
end)

T.run()
