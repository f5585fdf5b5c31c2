-- baton.health: `:checkhealth baton` — the server binary and its version, the Neovim version
-- (ghost text path), whether a Baton client is attached, and the server's `baton/health` answer.
-- checkhealth is synchronous by design; the one server round trip here is bounded (3 s).

local M = {}

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
  local v = vim.version()
  local vs = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.11') == 0 then
    h.error('Neovim ' .. vs .. ': Baton needs 0.11 or later (vim.lsp.config, inline extmarks)')
  elseif require('baton.ghost').builtin_available() then
    h.ok('Neovim ' .. vs .. ': ghost text from the built-in vim.lsp.inline_completion')
  else
    h.ok('Neovim ' .. vs .. ": ghost text drawn by Baton's plugin (no built-in inline completion before 0.12)")
  end

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
    h.ok(('client %d running (root %s), attached to %d buffer(s): %s'):format(client.id, tostring(client.root_dir), #bufs, table.concat(names, ', ')))
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
    local lines = require('baton.commands').format_health(result or {})
    if result.reachable then
      h.ok(table.concat(lines, '\n'))
    else
      h.error(table.concat(lines, '\n'), {
        'start a model server (e.g. scripts/local-model.sh start 8080)',
        'or set settings.provider.base_url / kind / model in setup()',
      })
    end
  end
end

return M
