-- baton.review: a pull request in Neovim's own diff view. Each changed file opens in a new tab:
-- the file as it is in the working tree beside the pull request's head version in a read-only
-- scratch buffer (`baton://pr/<id>/<path>`), both in diff mode. The user's windows and buffers
-- are never replaced. In the tab, `]f` / `[f` go to the next / previous file, `q` closes it.

local M = {}

local api = vim.api

---@class baton.Review
---@field id integer the task id
---@field repository string the repository's top-level directory
---@field head string the pull request's head commit
---@field files string[] the changed files, relative to the repository
---@field index integer the file shown
---@field tab? integer the review's tab page

---The pull request's version of `path` (lines; empty when the head does not have it).
---@param r baton.Review
---@param path string
---@return string[]
local function head_lines(r, path)
  local out = vim.system({ 'git', '-C', r.repository, 'show', r.head .. ':' .. path }, { text = true }):wait()
  if out.code ~= 0 then
    return {}
  end
  ---@type string[]
  local lines = vim.split(out.stdout or '', '\n', { plain = true })
  if lines[#lines] == '' then
    lines[#lines] = nil
  end
  return lines
end

---Opens file `i` of `r` in a new tab (closing the review's current tab first).
---@param r baton.Review
---@param i integer
local function open(r, i)
  local count = #r.files
  i = (i - 1) % count + 1
  if r.tab and api.nvim_tabpage_is_valid(r.tab) then
    api.nvim_set_current_tabpage(r.tab)
    vim.cmd('tabclose')
  end
  r.index = i
  local path = r.files[i] --[[@as string]]
  vim.cmd('tabnew ' .. vim.fn.fnameescape(r.repository .. '/' .. path))
  r.tab = api.nvim_get_current_tabpage()
  local file_win = api.nvim_get_current_win()
  local filetype = vim.bo.filetype
  local name = ('baton://pr/%d/%s'):format(r.id, path)
  local old = vim.fn.bufnr(name)
  if old ~= -1 then
    api.nvim_buf_delete(old, { force = true })
  end
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_name(buf, name)
  api.nvim_buf_set_lines(buf, 0, -1, false, head_lines(r, path))
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].modifiable = false
  vim.bo[buf].readonly = true
  vim.bo[buf].filetype = filetype
  vim.cmd('diffthis')
  vim.cmd('rightbelow vsplit')
  api.nvim_win_set_buf(0, buf)
  vim.cmd('diffthis')
  for _, b in ipairs({ buf, api.nvim_win_get_buf(file_win) }) do
    local function map(lhs, fn, desc)
      vim.keymap.set('n', lhs, fn, { buffer = b, desc = 'Baton review: ' .. desc, nowait = true })
    end
    if b == buf then
      map('q', function()
        M.close(r)
      end, 'close')
    end
    map(']f', function()
      open(r, r.index + 1)
    end, 'next file')
    map('[f', function()
      open(r, r.index - 1)
    end, 'previous file')
  end
  vim.notify(
    ('Baton: PR #%d, file %d of %d: %s (working tree | pull request; ]f [f other files, q closes)'):format(
      r.id,
      i,
      count,
      path
    )
  )
end

---Closes the review's tab.
---@param r baton.Review
function M.close(r)
  if r.tab and api.nvim_tabpage_is_valid(r.tab) then
    api.nvim_set_current_tabpage(r.tab)
    vim.cmd('diffoff!')
    vim.cmd('tabclose')
  end
  r.tab = nil
end

---Shows `baton.task.show`'s result `d` as a review; false (with a message) when it has no
---pull request.
---@param d table<string, any>
---@return baton.Review?
function M.show(d)
  local pr, task = d.pullRequest, d.task or {}
  if type(pr) ~= 'table' or type(pr.files) ~= 'table' or #pr.files == 0 or type(task.repository) ~= 'string' then
    vim.notify(('Baton: task #%s has no pull request to review'):format(tostring(task.id)), vim.log.levels.WARN)
    return nil
  end
  ---@type baton.Review
  local r = {
    id = task.id,
    repository = task.repository,
    head = pr.headCommit,
    files = vim.tbl_map(function(f)
      return f.path
    end, pr.files),
    index = 1,
  }
  open(r, 1)
  return r
end

return M
