-- tests/e2e_real_model_nes.lua: next edit suggestions end to end on a real model (driven by
-- scripts/e2e-real-model.sh, not by test.sh). An edit no structural prediction follows (a method
-- call appended to one assignment of a constructor) made with real keys; the model predicts the
-- same change on the next assignment (by analogy); <Tab> jumps, <Tab> applies, the server logs
-- the accept of a `model:` suggestion; the chain goes on to the last assignment. Ghost text is
-- off so the model's one slot serves the next edit requests. Writes a report to
-- $BATON_TEST_RESULTS.
local T = require('helpers')
local env = {
  url = assert(os.getenv('BATON_E2E_MODEL_URL'), 'BATON_E2E_MODEL_URL'),
  model = os.getenv('BATON_E2E_MODEL') or 'qwen2.5-coder-0.5b',
  timeout = tonumber(os.getenv('BATON_E2E_TIMEOUT_MS') or '120000'),
}

T.setup(env.url, {
  ghost = { enabled = false },
  settings = {
    provider = {
      kind = 'openai',
      base_url = env.url .. '/v1',
      model = env.model,
      timeout_ms = env.timeout,
      max_retries = 0,
    },
    completion = { enabled = false },
    nes = { structural_predictions = false, model_prompt = 'analogy' },
  },
})

local text = table.concat({
  'class Contact:',
  '    def __init__(self, name, email, city):',
  '        self.name = name',
  '        self.email = email',
  '        self.city = city',
  '',
}, '\n')
local dir = T.workspace({ ['contact.py'] = text })
local nes = require('baton.nes')
local bufnr

local function line(n)
  return vim.api.nvim_buf_get_lines(bufnr, n, n + 1, false)[1]
end

local function wait_suggestion(row, what)
  return T.wait(env.timeout, function()
    local e = nes.current(bufnr)
    return e and e.range.start.line == row and e
  end, what)
end

--- The suggestion id (`model:3`) of a shown edit, from its accept command.
local function id_of(e)
  return e.command and e.command.arguments and e.command.arguments[1] or ''
end

local accepts = 0
local function wait_accept(id)
  T.wait(10000, function()
    local n = 0
    for l in T.read(T.log_file):gmatch('[^\n]*next edit accepted[^\n]*') do
      if l:find(id, 1, true) then
        n = n + 1
      end
    end
    return n > 0
  end, '"next edit accepted" for ' .. id .. ' in the server log')
  accepts = accepts + 1
end

T.test('an edit by analogy from the real model, accepted with <Tab><Tab>, chained', function()
  bufnr = T.open(dir .. '/contact.py')
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  local t0 = vim.uv.hrtime()
  T.feed('A.strip()<Esc>')
  T.eq('        self.name = name.strip()', line(2), 'the user edit')
  local e = wait_suggestion(3, 'a model next edit on the email line')
  local first_ms = (vim.uv.hrtime() - t0) / 1e6
  local id = id_of(e)
  T.truthy(id:match('^model:%d+$'), 'a model suggestion, got ' .. vim.inspect(id))
  T.eq('        self.email = email', line(3), 'nothing applied yet')
  T.feed('<Tab>')
  T.eq(4, vim.api.nvim_win_get_cursor(0)[1], 'cursor on the edit')
  T.feed('<Tab>')
  T.eq('        self.email = email.strip()', line(3), 'applied')
  wait_accept(id)

  local e2 = wait_suggestion(4, 'the chained model next edit on the city line')
  local id2 = id_of(e2)
  T.truthy(id2:match('^model:%d+$'), 'a model suggestion, got ' .. vim.inspect(id2))
  T.feed('<Tab><Tab>')
  T.eq('        self.city = city.strip()', line(4), 'applied')
  wait_accept(id2)
  T.eq(
    table.concat({
      'class Contact:',
      '    def __init__(self, name, email, city):',
      '        self.name = name.strip()',
      '        self.email = email.strip()',
      '        self.city = city.strip()',
    }, '\n'),
    table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n')
  )
  local out = T.out
  out('REPORT nes edit: line 3 "self.name = name" -> "self.name = name.strip()" (keys A.strip()<Esc>)')
  out(('REPORT nes first model suggestion %s on line 4 after %.0f ms'):format(id, first_ms))
  out(('REPORT nes chained model suggestion %s on line 5; accepts in the server log: %d'):format(id2, accepts))
  out('REPORT nes model: ' .. env.model .. ' at ' .. env.url .. '/v1 (nes.model_prompt analogy)')
end)

T.run()
