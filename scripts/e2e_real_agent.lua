-- scripts/e2e_real_agent.lua: orchestrator mode end to end on a real local model, in headless
-- Neovim 0.11 (driven by scripts/e2e-real-agent.sh). Delegates a small real task to the built-in
-- agent, waits for it to end (ready or failed: a 0.5B model may well fail), and when a pull
-- request is ready, finds its "Merge into main" code action on the changed lines through
-- vim.lsp.buf.code_action and picks it. Writes a report to $BATON_TEST_RESULTS.
local T = require('helpers')
local env = {
  url = assert(os.getenv('BATON_E2E_MODEL_URL'), 'BATON_E2E_MODEL_URL'),
  model = os.getenv('BATON_E2E_MODEL') or 'qwen2.5-coder-0.5b',
  repo = assert(os.getenv('BATON_E2E_REPO'), 'BATON_E2E_REPO'),
  prompt = assert(os.getenv('BATON_E2E_PROMPT'), 'BATON_E2E_PROMPT'),
  timeout = tonumber(os.getenv('BATON_E2E_TIMEOUT_MS') or '600000'),
}

T.setup(env.url, {
  settings = { provider = { kind = 'openai', base_url = env.url .. '/v1', model = env.model, max_retries = 1 } },
})

local function request(client, bufnr, method, params)
  local resp, err = client:request_sync(method, params, 30000, bufnr)
  if err then
    error(method .. ': ' .. tostring(err))
  end
  if resp and resp.err then
    error(method .. ': ' .. (resp.err.message or vim.inspect(resp.err)))
  end
  return resp and resp.result
end

local function command(client, bufnr, name, arg)
  return request(client, bufnr, 'workspace/executeCommand', { command = name, arguments = { arg } })
end

T.test('a real task from dispatch to a merged pull request', function()
  local out = T.out
  local bufnr, client = T.open(env.repo .. '/calc.py')
  local uri = vim.uri_from_bufnr(bufnr)
  local t0 = vim.uv.hrtime()
  local started = command(client, bufnr, 'baton.task.start', { prompt = env.prompt, uri = uri })
  local id = T.truthy(started and started.id, 'a task id')
  out(('REPORT dispatched task #%d in %.0f ms'):format(id, (vim.uv.hrtime() - t0) / 1e6))
  local details
  T.wait(env.timeout, function()
    details = command(client, bufnr, 'baton.task.show', { id = id })
    local s = details.task.state
    return s ~= 'queued' and s ~= 'preparing' and s ~= 'running' and s ~= 'checking'
  end, 'the task to end')
  local task = details.task
  out(('REPORT task #%d ended %s after %.0f s, %d tokens'):format(id, task.state, (vim.uv.hrtime() - t0) / 1e9, task.tokens or 0))
  for _, l in ipairs(details.log) do
    out('REPORT log: ' .. l.line:gsub('\n', ' '):sub(1, 200))
  end
  out('REPORT agent summary: ' .. tostring(task.summaryText):gsub('\n', ' '):sub(1, 400))
  out('REPORT statusline: ' .. require('baton').status())
  if task.state ~= 'ready' then
    out('REPORT error: ' .. tostring(task.error))
    T.truthy(task.state == 'failed', 'a clear end state (ready or failed), got ' .. task.state)
    return
  end
  local pr = details.pullRequest
  out(('REPORT pull request: %s; +%d -%d in %d files; checks %s'):format(pr.title, pr.insertions, pr.deletions, pr.filesChanged, pr.check))
  out('REPORT description: ' .. (pr.description or ''):gsub('\n', ' '):sub(1, 300))
  -- Open a changed file that exists in the user's tree and put the cursor on a changed line.
  local target
  for _, f in ipairs(pr.files) do
    if vim.uv.fs_stat(env.repo .. '/' .. f.path) then
      target = f
      break
    end
  end
  -- A pull request that only adds files shows its actions in the file it was delegated from.
  local b2 = target and T.open(env.repo .. '/' .. target.path) or bufnr
  vim.api.nvim_set_current_buf(b2)
  -- The first hunk's first line: nothing before it changed, so the same line in the user's file.
  local line = target and #target.lines > 0 and math.max(target.lines[1][1], 1) or 1
  line = math.min(line, vim.api.nvim_buf_line_count(b2))
  vim.api.nvim_win_set_cursor(0, { line, 0 })
  out(('REPORT code actions asked in %s at line %d'):format(vim.fn.fnamemodify(vim.api.nvim_buf_get_name(b2), ':t'), line))
  local want = ('Baton PR #%d'):format(id)
  local offered = {}
  local picked
  vim.ui.select = function(items, opts, on_choice)
    for i, item in ipairs(items) do
      local title = opts.format_item and opts.format_item(item) or tostring(item)
      offered[#offered + 1] = title
      if not picked and title:find(want, 1, true) and title:find('Merge into main', 1, true) then
        picked = title
        on_choice(item, i)
        return
      end
    end
    on_choice(nil, nil)
  end
  vim.lsp.buf.code_action()
  T.wait(10000, function()
    return #offered > 0
  end, 'the code action menu')
  for _, t in ipairs(offered) do
    if t:find('Baton PR', 1, true) then
      out('REPORT code action: ' .. t)
    end
  end
  T.truthy(picked, 'a "Merge into main" action for PR #' .. id)
  T.wait(30000, function()
    return command(client, bufnr, 'baton.task.show', { id = id }).task.state == 'merged'
  end, 'the merge')
  local after = command(client, bufnr, 'baton.task.show', { id = id })
  out(('REPORT merged; sign-off: %s (%s), checks %s'):format(after.signoffs[1].who, after.signoffs[1].action, after.signoffs[1].checks))
end)

T.run()
