-- tests/e2e_real_model.lua: the end-to-end run on a real model (driven by
-- scripts/e2e-real-model.sh, not by test.sh). Opens a copy of a real source file, cuts a line in
-- a function body at a meaningful place, enters insert mode there as a user would, and waits for
-- the ghost text from the real model. Writes a report to $BATON_TEST_RESULTS.
local T = require('helpers')
local env = {
  url = assert(os.getenv('BATON_E2E_MODEL_URL'), 'BATON_E2E_MODEL_URL'),
  model = os.getenv('BATON_E2E_MODEL') or 'qwen2.5-coder-0.5b',
  file = assert(os.getenv('BATON_E2E_FILE'), 'BATON_E2E_FILE'),
  -- The line to cut (a Lua pattern) and where: the cursor goes right after `cut_after`.
  line = assert(os.getenv('BATON_E2E_LINE'), 'BATON_E2E_LINE'),
  cut_after = assert(os.getenv('BATON_E2E_CUT_AFTER'), 'BATON_E2E_CUT_AFTER'),
  timeout = tonumber(os.getenv('BATON_E2E_TIMEOUT_MS') or '120000'),
}

T.setup(env.url, {
  settings = {
    provider = {
      kind = 'openai',
      base_url = env.url .. '/v1',
      model = env.model,
      timeout_ms = env.timeout,
      max_retries = 0,
    },
    completion = { fim_template = 'qwen', debounce_ms = 75, adaptive_debounce = true },
  },
})

T.test('ghost text from the real model', function()
  local bufnr = T.open(env.file)
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  local row
  for i, l in ipairs(lines) do
    if l:find(env.line) then
      row = i
      break
    end
  end
  T.truthy(row, 'a line matching ' .. env.line)
  local original = lines[row]
  local s, e = original:find(env.cut_after, 1, true)
  T.truthy(s, ('%q in line %d'):format(env.cut_after, row))
  local kept = original:sub(1, e)
  vim.api.nvim_buf_set_lines(bufnr, row - 1, row, false, { kept })
  vim.api.nvim_win_set_cursor(0, { row, #kept })
  local ghost = require('baton.ghost')
  ghost.last = nil
  local t0 = vim.uv.hrtime()
  T.feed('A')
  T.wait(env.timeout, function()
    return ghost.last ~= nil
  end, 'ghost text from the real model')
  local total_ms = (vim.uv.hrtime() - t0) / 1e6
  local mark = T.ghost_marks(bufnr)[1]
  T.truthy(mark, 'the ghost extmark')
  local shown = mark[4].virt_text[1][1]
  local status = require('baton').status()
  local out = T.out
  out('REPORT file: ' .. env.file)
  out(('REPORT cursor (line:col, 1-based): %d:%d'):format(row, #kept + 1))
  out('REPORT line before the cursor: ' .. kept)
  out('REPORT original line: ' .. original)
  out('REPORT suggestion: ' .. vim.inspect(ghost.last.text))
  out('REPORT ghost extmark (first line, inline): ' .. vim.inspect(shown))
  out(('REPORT time from request to ghost text: %.0f ms'):format(ghost.last.ms))
  out(('REPORT time from entering insert mode to ghost text (incl. debounce): %.0f ms'):format(total_ms))
  out('REPORT model: ' .. env.model .. ' at ' .. env.url .. '/v1 (fim qwen)')
  out('REPORT statusline: ' .. status)
end)

T.run()
