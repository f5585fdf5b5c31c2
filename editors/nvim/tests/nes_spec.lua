-- tests/nes_spec.lua: next edit suggestions against the real server (structural predictions, so
-- no model answer is needed): a parameter renamed with real Normal-mode keys shows its next use
-- struck through with the new name beside it; <Tab> jumps there, <Tab> again applies it and the
-- server records the accept; the suggestions chain to the last use; <Esc> dismisses one and the
-- server records that.
local T = require('helpers')
T.setup(T.env.code_url, { settings = { nes = { model_predictions = false } } })

local text = 'def scale(count, factor):\n    total = count * factor\n    return count + total\n'
local dir = T.workspace({ ['scale.py'] = text })
local bufnr, client
local nes = require('baton.nes')

local function marks()
  return vim.api.nvim_buf_get_extmarks(bufnr, nes.ns, 0, -1, { details = true })
end

local function wait_suggestion(row, what)
  return T.wait(15000, function()
    local e = nes.current(bufnr)
    return e and e.range.start.line == row and e
  end, what or ('a next edit on row ' .. row))
end

local function line(n)
  return vim.api.nvim_buf_get_lines(bufnr, n, n + 1, false)[1]
end

T.test('the client attaches and the server negotiated UTF-16 for next edits', function()
  bufnr, client = T.open(dir .. '/scale.py')
  T.eq('utf-16', client.offset_encoding, 'offset encoding')
end)

T.test('renaming a parameter shows its next use struck through with the new name', function()
  vim.api.nvim_win_set_cursor(0, { 1, 10 })
  T.feed('ciwsize<Esc>')
  T.eq('def scale(size, factor):', line(0), 'the edit')
  local e = wait_suggestion(1)
  T.eq('size', e.text, 'suggested text')
  local m = marks()
  T.eq(2, #m, 'two extmarks: the struck text and the new text')
  T.eq({ 1, 12 }, { m[1][2], m[1][3] }, 'struck text starts at count')
  T.eq('BatonNesDelete', m[1][4].hl_group, 'struck highlight')
  T.eq(17, m[1][4].end_col, 'struck text ends after count')
  T.eq('size', m[2][4].virt_text[1][1], 'new text as virtual text')
  T.eq('    total = count * factor', line(1), 'nothing applied yet')
end)

T.test('<Tab> jumps to the edit, <Tab> again applies it and the accept reaches the server', function()
  T.feed('<Tab>')
  T.eq({ 2, 12 }, vim.api.nvim_win_get_cursor(0), 'cursor at the edit')
  T.truthy(nes.visible(bufnr), 'still shown after the jump')
  T.feed('<Tab>')
  T.eq('    total = size * factor', line(1), 'applied')
  T.wait(5000, function()
    return T.read(T.log_file):find('next edit accepted', 1, true)
  end, '"next edit accepted" in the server log')
end)

T.test('the suggestions chain: the last use follows and is accepted the same way', function()
  wait_suggestion(2, 'the next edit on the return line')
  T.feed('<Tab>')
  T.feed('<Tab>')
  T.eq('    return size + total', line(2), 'applied')
  T.eq(
    'def scale(size, factor):\n    total = size * factor\n    return size + total',
    table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n')
  )
  -- The next answer (for the text now) has nothing left to rename.
  T.wait(15000, function()
    local last = nes.last[bufnr]
    return last and last.version == vim.lsp.util.buf_versions[bufnr] and #last.edits == 0
  end, 'an empty answer for the renamed text')
  T.eq(false, nes.visible(bufnr), 'nothing shown')
end)

T.test('<Esc> dismisses a suggestion and the server records it', function()
  vim.api.nvim_win_set_cursor(0, { 1, 16 })
  T.feed('ciwscale_by<Esc>')
  wait_suggestion(1, 'the rename of factor')
  T.feed('<Esc>')
  T.eq(false, nes.visible(bufnr), 'dismissed')
  T.eq(0, #marks(), 'no extmarks')
  T.eq('    total = size * factor', line(1), 'dismiss leaves the text alone')
  T.wait(5000, function()
    return T.read(T.log_file):find('next edit dismissed', 1, true)
  end, '"next edit dismissed" in the server log')
end)

T.run()
