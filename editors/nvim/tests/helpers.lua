-- tests/helpers.lua: a small test runner for headless Neovim. Tests run one after another in a
-- coroutine, so waiting (`T.wait`: poll a predicate with a timeout) hands control back to
-- Neovim's main loop, which processes typeahead (real insert mode, real keymaps), LSP messages
-- and timers. Prints `ok - NAME` / `not ok - NAME: why` per test, then `RESULT passed failed`.
local T = {}

local tests = {}

-- Results go to $BATON_TEST_RESULTS when set (Neovim's own messages also reach stdout headless).
local results_file = os.getenv('BATON_TEST_RESULTS')
local function out(line)
  if results_file then
    local f = assert(io.open(results_file, 'a'))
    f:write(line .. '\n')
    f:close()
  end
  io.stdout:write('\n' .. line .. '\n')
  io.stdout:flush()
end
T.out = out
T.env = {
  bin = os.getenv('BATON_BIN') or 'baton',
  code_url = os.getenv('BATON_CODE_URL'),
  edit_url = os.getenv('BATON_EDIT_URL'),
  code_reply = os.getenv('BATON_CODE_REPLY'),
  tmp = os.getenv('BATON_TEST_TMP') or vim.fn.tempname(),
}
vim.fn.mkdir(T.env.tmp, 'p')

function T.test(name, fn)
  tests[#tests + 1] = { name = name, fn = fn }
end

local runner

local function step()
  local ok, err = coroutine.resume(runner)
  if not ok then
    out('not ok - test runner crashed: ' .. tostring(err))
    out('RESULT 0 1')
    vim.cmd('cquit 1')
  end
end

---Yields to the main loop for about `ms` milliseconds.
function T.tick(ms)
  vim.defer_fn(step, ms or 10)
  coroutine.yield()
end

---Waits until `pred()` is truthy (polling every 10 ms); fails the test after `ms`.
function T.wait(ms, pred, what)
  local deadline = vim.uv.now() + ms
  while true do
    local ok, v = pcall(pred)
    if ok and v then
      return v
    end
    if vim.uv.now() > deadline then
      error(('timed out after %d ms waiting for %s'):format(ms, what or 'a condition'), 2)
    end
    T.tick(10)
  end
end

---Feeds keys as typed (mappings apply) and lets the main loop process them.
function T.feed(keys)
  vim.api.nvim_feedkeys(vim.keycode(keys), 'm', false)
  T.tick(20)
end

function T.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(('%s: expected %s, got %s'):format(what or 'value', vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

function T.truthy(v, what)
  if not v then
    error((what or 'condition') .. ' is false', 2)
  end
  return v
end

---Creates a workspace (a temp dir with .git) holding `files` { name = text } and returns it.
function T.workspace(files)
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir .. '/.git', 'p')
  for name, text in pairs(files or {}) do
    local f = assert(io.open(dir .. '/' .. name, 'w'))
    f:write(text)
    f:close()
  end
  return dir
end

---Runs a command (list) and returns its result; fails the test on a non-zero exit.
function T.sh(cmd, opts)
  local res = vim.system(cmd, vim.tbl_extend('force', { text = true }, opts or {})):wait(60000)
  if res.code ~= 0 then
    error(
      ('`%s` failed (exit %s): %s%s'):format(
        table.concat(cmd, ' '),
        tostring(res.code),
        res.stdout or '',
        res.stderr or ''
      ),
      2
    )
  end
  return res.stdout or ''
end

---A real git repository (branch main, one commit holding `files`) in a temp dir.
function T.git_repo(files)
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  for name, text in pairs(files or {}) do
    local path = dir .. '/' .. name
    vim.fn.mkdir(vim.fn.fnamemodify(path, ':h'), 'p')
    local f = assert(io.open(path, 'w'))
    f:write(text)
    f:close()
  end
  local git = function(...)
    return T.sh(vim.list_extend({ 'git', '-C', dir }, { ... }))
  end
  git('init', '-q', '-b', 'main')
  git('config', 'user.name', 'Test User')
  git('config', 'user.email', 'test@example.com')
  git('add', '-A')
  git('commit', '-q', '-m', 'initial')
  return dir, git
end

T.log_file = T.env.tmp .. '/baton-' .. vim.fn.getpid() .. '.log'

---Baton's setup() with the test binary, a per-run log and a provider at `url`.
function T.setup(url, extra)
  local opts = vim.tbl_deep_extend('force', {
    cmd = { T.env.bin, '--log-level', 'baton=debug,info' },
    log_file = T.log_file,
    settings = {
      provider = { kind = 'openai', base_url = url .. '/v1', model = 'qwen2.5-coder', max_retries = 0 },
      completion = { debounce_ms = 10, adaptive_debounce = false },
    },
  }, extra or {})
  require('baton').setup(opts)
end

function T.read(path)
  local f = io.open(path, 'r')
  if not f then
    return ''
  end
  local s = f:read('*a')
  f:close()
  return s
end

---Opens `path` and waits for the Baton client to attach.
function T.open(path)
  vim.cmd('edit ' .. vim.fn.fnameescape(path))
  local bufnr = vim.api.nvim_get_current_buf()
  T.wait(10000, function()
    local c = require('baton').client(bufnr)
    return c and c.initialized and vim.lsp.buf_is_attached(bufnr, c.id)
  end, 'the baton client to attach')
  return bufnr, require('baton').client(bufnr)
end

---Replaces vim.notify with a recorder; returns the list of messages.
function T.capture_notify()
  local msgs = {}
  vim.notify = function(msg, level)
    msgs[#msgs + 1] = { msg = tostring(msg), level = level }
  end
  return msgs
end

function T.find(msgs, pattern)
  for _, m in ipairs(msgs) do
    if m.msg:find(pattern) then
      return m.msg
    end
  end
end

---Ghost extmarks in the Baton namespace of `bufnr`.
function T.ghost_marks(bufnr)
  local ns = require('baton.ghost').ns
  return vim.api.nvim_buf_get_extmarks(bufnr or 0, ns, 0, -1, { details = true })
end

function T.run()
  local timeout = tonumber(os.getenv('BATON_TEST_TIMEOUT_MS') or '90000')
  vim.defer_fn(function()
    out(('not ok - the spec did not finish within %d ms'):format(timeout))
    out('RESULT 0 1')
    vim.cmd('cquit 1')
  end, timeout)
  runner = coroutine.create(function()
    local passed, failed = 0, 0
    for _, t in ipairs(tests) do
      local ok, err = xpcall(t.fn, debug.traceback)
      if ok then
        passed = passed + 1
        out('ok - ' .. t.name)
      else
        failed = failed + 1
        out('not ok - ' .. t.name .. ': ' .. tostring(err))
        if os.getenv('BATON_TEST_VERBOSE') then
          out('--- server log ---\n' .. T.read(T.log_file))
        end
      end
    end
    out(('RESULT %d %d'):format(passed, failed))
    for _, c in ipairs(vim.lsp.get_clients()) do
      c:stop(true)
    end
    vim.cmd(failed == 0 and 'qall!' or 'cquit 1')
  end)
  step()
end

return T
