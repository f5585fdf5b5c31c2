-- Records what the Neovim NES clients put on the wire, by driving real Neovim (0.11) through the
-- same steps the plugins take (see tests/nes/PROTOCOL.md for the steps and their sources). This
-- is not the plugins' code: it calls the same Neovim functions with the same arguments, so the
-- bytes on the wire are Neovim's own.
--
-- Environment: NES_FLOW = "copilot-lsp" | "sidekick"; NES_STUB = the stub server's argv as JSON;
-- NES_FILE = the file to edit. Exits 0 when the whole flow ran, 1 (cquit) otherwise.

local flow = os.getenv("NES_FLOW")
local argv = vim.json.decode(os.getenv("NES_STUB"))
local file = os.getenv("NES_FILE")

local function fail(msg)
  io.stderr:write("capture: " .. msg .. "\n")
  vim.cmd("cquit 1")
end

vim.api.nvim_create_autocmd("VimEnter", {
  callback = function()
    vim.cmd("edit " .. vim.fn.fnameescape(file))
    local buf = vim.api.nvim_get_current_buf()
    -- Headless --clean leaves filetype detection off; a user's Neovim has it (didOpen languageId).
    vim.bo[buf].filetype = vim.filetype.match({ buf = buf }) or ""
    -- Both plugins talk to a client whose name contains "copilot" (sidekick selects it by that).
    -- copilot-lsp's client config sends this settings block (nextEditSuggestions.enabled).
    local id = vim.lsp.start({
      name = "copilot",
      cmd = argv,
      root_dir = vim.fs.dirname(file),
      settings = flow == "copilot-lsp" and { nextEditSuggestions = { enabled = true } } or nil,
    })
    if not id then
      return fail("no client")
    end
    local client = vim.lsp.get_client_by_id(id)
    if not vim.wait(5000, function()
      return client.initialized and vim.lsp.buf_is_attached(buf, id)
    end) then
      return fail("client did not initialize")
    end
    -- Both plugins send Copilot's custom focus notification on BufEnter.
    client:notify("textDocument/didFocus", { textDocument = { uri = vim.uri_from_bufnr(buf) } })

    -- The user's edit: rename the parameter `count` on the definition line (line 2, 0-based 1).
    local line = vim.api.nvim_buf_get_lines(buf, 1, 2, false)[1]
    local s, e = line:find("count", 1, true)
    vim.api.nvim_buf_set_text(buf, 1, s - 1, 1, e, { "total" })
    vim.api.nvim_win_set_cursor(0, { 2, s - 1 + #"total" })

    -- The request, built as each plugin builds it.
    local enc = flow == "copilot-lsp" and "utf-16" or client.offset_encoding
    local params = vim.lsp.util.make_position_params(0, enc)
    params.textDocument.version = vim.lsp.util.buf_versions[buf]
    local result
    client:request("textDocument/copilotInlineEdit", params, function(err, res)
      result = err and { err = err } or res or { edits = {} }
    end, buf)
    if not vim.wait(5000, function()
      return result ~= nil
    end) then
      return fail("no answer")
    end
    if result.err or not result.edits or #result.edits == 0 then
      return fail("no edit: " .. vim.inspect(result))
    end
    local edit = result.edits[1]

    if flow == "copilot-lsp" then
      -- Shown: copilot-lsp sends the first edit's command only, wrapped in `item`.
      client:notify("textDocument/didShowInlineEdit", { item = { command = edit.command } })
      -- Accepted: the edit is applied locally in UTF-16; no command is run.
      edit.newText = edit.text
      vim.lsp.util.apply_text_edits({ edit }, buf, "utf-16")
    else
      -- sidekick applies every returned edit at once, in the client's encoding, then runs each
      -- edit's command through the client (workspace/executeCommand).
      local edits = vim.tbl_map(function(x)
        return { range = x.range, newText = x.text }
      end, result.edits)
      vim.lsp.util.apply_text_edits(edits, buf, client.offset_encoding)
      local done = false
      for _, x in ipairs(result.edits) do
        if x.command then
          client:exec_cmd(x.command, { bufnr = buf }, function()
            done = true
          end)
        end
      end
      vim.wait(3000, function()
        return done
      end)
    end
    -- Let the didChange of the accepted edit go out, then stop cleanly.
    vim.wait(300)
    client:stop()
    vim.wait(3000, function()
      return client:is_stopped()
    end)
    io.stdout:write(table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n") .. "\n")
    vim.cmd("qall!")
  end,
})
