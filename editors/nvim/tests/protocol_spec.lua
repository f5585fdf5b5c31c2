-- tests/protocol_spec.lua: the plugin's protocol names agree with editors/protocol.json (the
-- file the server generates: the single source of truth for methods, commands and states).
local T = require('helpers')
local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local protocol = vim.json.decode(T.read(here .. '/../../protocol.json'))
local baton = require('baton')

T.test('methods and commands match protocol.json', function()
  T.truthy(vim.tbl_contains(protocol.notifications.serverToClient, baton.STATUS_METHOD), baton.STATUS_METHOD)
  T.truthy(vim.tbl_contains(protocol.notifications.clientToServer, baton.DID_SHOW_METHOD), baton.DID_SHOW_METHOD)
  T.truthy(vim.tbl_contains(protocol.requests.clientToServer, baton.HEALTH_METHOD), baton.HEALTH_METHOD)
  for _, c in ipairs({ baton.CMD_EDIT, baton.CMD_FIX, baton.CMD_ACCEPTED }) do
    T.truthy(vim.tbl_contains(protocol.commands, c), c .. ' in protocol.json commands')
  end
  T.eq('experimental.baton.status', protocol.clientCapability, 'client capability path')
  T.eq(true, vim.tbl_get(baton.capabilities(), unpack(vim.split(protocol.clientCapability, '.', { plain = true }))), 'declared')
end)

T.test('every status state has a statusline label', function()
  for _, st in ipairs(protocol.statusStates) do
    baton.state[-1] = { state = st }
    local client = { id = -1 }
    local orig = baton.client
    baton.client = function()
      return client
    end
    local s = baton.status()
    baton.client = orig
    baton.state[-1] = nil
    T.truthy(s:match('^Baton: ' .. vim.pesc(st)), ('label for %s: %q'):format(st, s))
  end
end)

T.test('settings documented in doc/baton.txt exist in protocol.json', function()
  local doc = T.read(here .. '/../doc/baton.txt')
  local checked = 0
  for key in doc:gmatch('`((%l+)%.[%l_]+)`') do
    if key:match('^provider%.') or key:match('^completion%.') or key:match('^edit%.') then
      T.truthy(protocol.settings[key] ~= nil, key .. ' (doc/baton.txt) in protocol.json settings')
      checked = checked + 1
    end
  end
  T.truthy(checked >= 10, ('found %d documented settings'):format(checked))
end)

T.run()
