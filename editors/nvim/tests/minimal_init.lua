-- tests/minimal_init.lua: the init file of every headless test run. Puts the plugin and the test
-- helpers on the path, isolates Neovim's state, and runs the spec named by $BATON_SPEC from
-- VimEnter (after startup finished), so specs can drive real insert mode through typeahead.
local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local plugin = vim.fn.fnamemodify(here, ':h')
vim.opt.rtp:prepend(plugin)
package.path = here .. '/?.lua;' .. package.path
vim.o.swapfile = false
vim.o.shadafile = 'NONE'
vim.o.more = false
vim.o.showmode = false
vim.api.nvim_create_autocmd('VimEnter', {
  once = true,
  callback = function()
    vim.schedule(function()
      local ok, err = pcall(dofile, assert(os.getenv('BATON_SPEC'), 'BATON_SPEC is not set'))
      if not ok then
        local msg = 'not ok - loading the spec: ' .. tostring(err) .. '\nRESULT 0 1\n'
        local file = os.getenv('BATON_TEST_RESULTS')
        local f = file and io.open(file, 'a')
        if f then
          f:write(msg)
          f:close()
        end
        io.stdout:write(msg)
        vim.cmd('cquit 1')
      end
    end)
  end,
})
