-- baton.health: `:checkhealth baton` — the server binary and its version, the Neovim version
-- (ghost text path), whether a Baton client is attached, the server's `baton/health` answer,
-- and task support (data directory, `baton task list`, the server's task commands).
-- checkhealth is synchronous by design; each server or process round trip is bounded (3 s).

local M = {}

---`:checkhealth baton`.
function M.check()
  local h = vim.health
  local ok_baton, baton = pcall(require, 'baton')
  if not ok_baton then
    h.error('cannot load the baton module: ' .. tostring(baton))
    return
  end

  h.start('Baton: server binary')
  local cmd = baton.options.cmd or { 'baton' }
  local exe = cmd[1]
  if vim.fn.executable(exe) == 1 then
    local path = vim.fn.exepath(exe)
    local res = vim.system({ exe, '--version' }, { text = true }):wait(3000)
    if res.code == 0 then
      h.ok(('%s: %s'):format(path ~= '' and path or exe, vim.trim(res.stdout or '')))
    else
      h.warn(('%s --version failed (exit %s): %s'):format(exe, tostring(res.code), vim.trim(res.stderr or '')))
    end
  else
    h.error(('`%s` is not executable'):format(exe), {
      'Build it with `cargo build --release --bin baton` and put it on $PATH,',
      "or pass require('baton').setup({ cmd = { '/path/to/baton' } })",
    })
  end
  if baton.options.log_file then
    h.info('server log: ' .. baton.options.log_file .. ' (:Baton log)')
  end

  h.start('Baton: Neovim')
  -- vim.version is a module that is also callable (a metatable the checker does not follow).
  ---@diagnostic disable-next-line: call-non-callable
  local v = vim.version()
  local vs = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.11') == 0 then
    h.error('Neovim ' .. vs .. ': Baton needs 0.11 or later (vim.lsp.config, inline extmarks)')
  elseif require('baton.ghost').builtin_available() then
    h.ok('Neovim ' .. vs .. ': ghost text from the built-in vim.lsp.inline_completion')
  else
    h.ok('Neovim ' .. vs .. ": ghost text drawn by Baton's plugin (no built-in inline completion before 0.12)")
  end

  ---@cast baton table
  M.check_tasks(h, baton, exe)

  h.start('Baton: language server')
  -- checkhealth runs in its own buffer: any Baton client will do.
  local client = baton.client()
  if not client then
    h.warn('no Baton client is running', {
      "call require('baton').setup({...}) and open a file of a configured filetype",
    })
    return
  end
  local bufs = vim.tbl_keys(client.attached_buffers or {})
  local names = vim.tbl_map(function(b)
    return vim.fn.fnamemodify(vim.api.nvim_buf_get_name(b), ':~:.')
  end, bufs)
  if #bufs > 0 then
    h.ok(
      ('client %d running (root %s), attached to %d buffer(s): %s'):format(
        client.id,
        tostring(client.root_dir),
        #bufs,
        table.concat(names, ', ')
      )
    )
  else
    h.warn(('client %d running (root %s) but attached to no buffer'):format(client.id, tostring(client.root_dir)))
  end
  h.info('status: ' .. baton.status())

  local done, err, result = false, nil, nil
  local sent = client:request(baton.HEALTH_METHOD, nil, function(e, r)
    done, err, result = true, e, r
  end)
  if sent then
    vim.wait(3000, function()
      return done
    end, 20)
  end
  if not done then
    h.error('baton/health did not answer within 3 s')
  elseif err then
    h.error('baton/health failed: ' .. (err.message or vim.inspect(err)))
  else
    result = result or {}
    local lines = require('baton.commands').format_health(result)
    if result.state == 'slow' or result.state == 'unknown' then
      h.warn(table.concat(lines, '\n'))
    elseif result.reachable == true then
      h.ok(table.concat(lines, '\n'))
    else
      h.error(table.concat(lines, '\n'), {
        'start a model server (e.g. scripts/local-model.sh start 8080)',
        'or set settings.provider.base_url / kind / model in setup()',
      })
    end
  end

  local cmds = require('baton.commands')
  local missing = {}
  for _, c in ipairs({ baton.CMD_TASK_START, baton.CMD_TASK_LIST }) do
    if not cmds.server_has_command(client, c) then
      missing[#missing + 1] = c
    end
  end
  for _, a in ipairs(cmds.actions) do
    if not cmds.server_has_command(client, a.command) then
      missing[#missing + 1] = a.command
    end
  end
  if #missing == 0 then
    local counts = baton.tasks_status()
    h.ok(
      'the server runs the task and pull request commands; tasks: '
        .. (counts ~= '' and counts or (baton.tasks_details() and 'none open' or 'no baton/tasks received yet'))
    )
  else
    h.warn(
      'this server does not offer ' .. table.concat(missing, ', '),
      { 'update baton: :Baton delegate, :Baton tasks and the pull request actions need them' }
    )
  end
end

---Where the server keeps tasks: `$BATON_DATA_DIR`, else `$XDG_DATA_HOME/baton`
---(`~/.local/share/baton`). Returns the directory and where it came from.
---@return string dir, string source `$BATON_DATA_DIR` or `default`
function M.data_dir()
  local env = vim.env.BATON_DATA_DIR
  if env and env ~= '' then
    return env, '$BATON_DATA_DIR'
  end
  local xdg = vim.env.XDG_DATA_HOME
  if not xdg or xdg == '' then
    xdg = vim.fs.joinpath(vim.uv.os_homedir() or '~', '.local', 'share')
  end
  return vim.fs.joinpath(xdg, 'baton'), 'default'
end

---Task support: the data directory and whether `baton task list` runs in the project.
---@param h table vim.health
---@param baton table the baton module
---@param exe string the server binary
function M.check_tasks(h, baton, exe)
  h.start('Baton: tasks (orchestrator mode)')
  local dir, from = M.data_dir()
  local db = vim.fs.joinpath(dir, 'baton.db')
  if vim.fn.filereadable(db) == 1 then
    h.ok(('data directory %s (%s), task database %s'):format(dir, from, db))
  else
    h.info(('data directory %s (%s); no task database yet (created by the first task)'):format(dir, from))
  end
  if vim.fn.executable(exe) ~= 1 then
    return
  end
  local client = baton.client()
  local cwd = client and client.root_dir or vim.uv.cwd()
  local ok, proc = pcall(vim.system, { exe, 'task', 'list' }, { text = true, cwd = cwd })
  local res = ok and proc:wait(3000) or nil
  if not res then
    h.warn('`baton task list` could not run: ' .. tostring(proc))
  elseif res.code ~= 0 then
    h.warn(
      ('`baton task list` failed (exit %s) in %s: %s'):format(tostring(res.code), cwd, vim.trim(res.stderr or '')),
      { 'set BATON_DATA_DIR to a writable directory, or check the project baton.toml' }
    )
  else
    local n = #vim.split(vim.trim(res.stdout or ''), '\n', { trimempty = true })
    h.ok(('`baton task list` works in %s: %d task(s)'):format(cwd, n))
  end
end

return M
