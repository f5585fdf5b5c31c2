-- tests/tasks_spec.lua: orchestrator mode in Neovim against the real server. A real git
-- repository with a scripted CLI agent profile (a shell script that rewrites line 2 of lib.rs);
-- a ready pull request made from the shell (`baton task start`, sharing BATON_DATA_DIR with the
-- editor's server) shows in the statusline and as code actions on the changed line; Apply
-- changes the buffer and keeps the pull request open (until `:Baton discard`); `:Baton
-- delegate` starts a task that becomes ready; `:Baton review`, `request-changes`, `merge`,
-- `discard`, `tasks` / `show`, the delegate code action and `:checkhealth baton`.
local T = require('helpers')
local baton = require('baton')

local data_dir = T.env.tmp .. '/data'
vim.fn.mkdir(data_dir, 'p')
-- The editor's server inherits this, so it sees the tasks `baton task start` makes.
vim.env.BATON_DATA_DIR = data_dir

-- The agent: the last "Greet with WORD" in its prompt (requested changes come last) puts WORD
-- on line 2 of lib.rs.
local agent = T.env.tmp .. '/agent.sh'
do
  local f = assert(io.open(agent, 'w'))
  f:write([[
word=$(printf '%s\n' "$1" | sed -n 's/.*Greet with \([A-Za-z]*\).*/\1/p' | tail -n1)
[ -n "$word" ] || word=hello
sed -i "2s/.*/    println!(\"$word\");/" lib.rs
echo "Greeting changed to $word"
]])
  f:close()
end
local original = { 'fn main() {', '    println!("hi");', '}' }
local repo, git = T.git_repo({
  ['lib.rs'] = table.concat(original, '\n') .. '\n',
  ['README.md'] = 'A greeting.\n',
  ['baton.toml'] = ([==[
[[agents]]
name = "scripted"
kind = "cli"
command = ["sh", "%s", "{prompt}"]
read_only_paths = ["%s"]

[[agents]]
name = "second"
kind = "cli"
command = ["sh", "%s", "{prompt}"]
read_only_paths = ["%s"]

[orchestrator]
default_agent = "scripted"
]==]):format(agent, T.env.tmp, agent, T.env.tmp),
})

T.setup(T.env.code_url)
local msgs = T.capture_notify()
local bufnr

-- vim.ui stubs: each select call records its titles and picks the first title containing the
-- next pattern of `picks`; input records its prompt and answers `answer`.
local ui = { selects = {}, inputs = {} }
local picks, answer = {}, nil
vim.ui.select = function(items, opts, on_choice)
  local titles = {}
  for i, it in ipairs(items) do
    titles[i] = opts.format_item and opts.format_item(it) or tostring(it)
  end
  ui.selects[#ui.selects + 1] = { prompt = opts.prompt, titles = titles }
  local want, chosen = table.remove(picks, 1), nil
  for i, t in ipairs(titles) do
    if want and t:find(want, 1, true) then
      chosen = i
      break
    end
  end
  on_choice(chosen and items[chosen] or nil, chosen)
end
vim.ui.input = function(opts, on_confirm)
  ui.inputs[#ui.inputs + 1] = { prompt = opts.prompt, default = opts.default }
  on_confirm(answer)
end

-- Every baton/tasks and task $/progress the plugin announces.
local task_events, progress_events = {}, {}
vim.api.nvim_create_autocmd('User', {
  pattern = 'BatonTasks',
  callback = function(ev)
    task_events[#task_events + 1] = { data = ev.data, status = baton.status(bufnr) }
  end,
})
vim.api.nvim_create_autocmd('User', {
  pattern = 'BatonTaskProgress',
  callback = function(ev)
    progress_events[#progress_events + 1] = ev.data
  end,
})

local function line2()
  return vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1]
end

local function task(id)
  for _, t in ipairs((baton.tasks_details(bufnr) or {}).tasks or {}) do
    if t.id == id then
      return t
    end
  end
end

local function wait_ready(id)
  return T.wait(20000, function()
    local t = task(id)
    if t and (t.state == 'failed' or t.state == 'interrupted') then
      error(('task #%d %s: %s'):format(id, t.state, tostring(t.message)))
    end
    return t and t.state == 'ready' and t
  end, ('task #%d to be ready (baton/tasks)'):format(id))
end

local function last_started()
  return T.wait(10000, function()
    return require('baton.commands').last_started
  end, 'baton.task.start to answer')
end

T.test('a ready pull request made from the shell shows in the statusline', function()
  local out = T.sh({ T.env.bin, 'task', 'start', 'Greet with hello', '--repo', repo })
  T.truthy(out:find('state: ready', 1, true), '`baton task start` made a ready pull request:\n' .. out)
  bufnr = T.open(repo .. '/lib.rs')
  T.wait(10000, function()
    return baton.status(bufnr) == 'Baton: idle · 1 to review'
  end, 'statusline `Baton: idle · 1 to review` (got ' .. vim.inspect(baton.status(bufnr)) .. ')')
  T.eq(1, baton.tasks_details(bufnr).awaitingReview, 'awaitingReview count')
end)

T.test('code actions on the changed line include the PR actions; Apply changes the buffer, keeps the PR', function()
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  local before = #ui.selects
  picks = { 'Apply to working tree' }
  vim.lsp.buf.code_action()
  T.wait(5000, function()
    return #ui.selects > before
  end, 'the code action menu')
  local titles = ui.selects[#ui.selects].titles
  local prefix = 'Baton PR #1 (+1 -1, checks none): '
  for _, want in ipairs({ 'Review', 'Apply to working tree', 'Merge into main', 'Request changes…', 'Discard' }) do
    T.truthy(vim.tbl_contains(titles, prefix .. want), ('%q in %s'):format(prefix .. want, vim.inspect(titles)))
  end
  T.wait(10000, function()
    return line2() == '    println!("hello");'
  end, 'the buffer to show the pull request applied (workspace/applyEdit)')
  T.eq(original[2], vim.split(T.read(repo .. '/lib.rs'), '\n')[2], 'lib.rs on disk (not written yet)')
  -- Applying keeps the pull request open (issue 10): still ready and counted, the apply
  -- recorded, and the user told it stays open.
  local applied = T.wait(5000, function()
    return T.find(msgs, 'applied PR #1')
  end, 'the apply message')
  T.truthy(applied:find('stays open', 1, true), 'the apply message says the pull request stays open: ' .. applied)
  T.wait(5000, function()
    local t = task(1)
    return t and t.state == 'ready' and (t.message or ''):find('applied to the working tree', 1, true)
  end, 'baton/tasks to carry task #1 ready, applied to the working tree')
  T.eq('Baton: idle · 1 to review', baton.status(bufnr), 'statusline: the applied pull request is still to review')
  vim.cmd('silent undo')
  T.eq(original, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), 'buffer after undo')
  T.eq(false, vim.bo[bufnr].modified, 'buffer unmodified after undo')
  -- Undone, the pull request can be applied again: its actions are still offered.
  before = #ui.selects
  picks = {}
  vim.lsp.buf.code_action()
  T.wait(5000, function()
    return #ui.selects > before
  end, 'the code action menu after undo')
  titles = ui.selects[#ui.selects].titles
  T.truthy(
    vim.tbl_contains(titles, prefix .. 'Apply to working tree'),
    ('Apply offered again after undo: %s'):format(vim.inspect(titles))
  )
end)

T.test(':Baton tasks offers the applied pull request; Show details opens a scratch buffer', function()
  picks = { '#1 ready', 'Show details' }
  vim.cmd('Baton tasks')
  local buf = T.wait(5000, function()
    local b = vim.fn.bufnr('baton://task/1')
    return b ~= -1 and b
  end, 'the baton://task/1 buffer')
  local menu = ui.selects[#ui.selects].titles
  T.eq({
    'Review (open the diff)',
    'Apply to working tree',
    'Merge into the current branch',
    'Request changes…',
    'Show details',
    'Discard',
  }, menu, 'actions offered for an applied, still open pull request')
  local text = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
  for _, want in ipairs({
    'Task #1: Greet with hello',
    'state: ready',
    'Pull request: ',
    'lib.rs (lines 2)',
    'Greeting changed to hello',
    'applied by Test User <test@example.com>',
    'applied to the working tree by Test User <test@example.com>',
  }) do
    T.truthy(text:find(want, 1, true), ('%q in the task buffer:\n%s'):format(want, text))
  end
  T.eq('nofile', vim.bo[buf].buftype, 'scratch buffer')
  vim.cmd('close')
  T.eq(bufnr, vim.api.nvim_get_current_buf(), 'back in lib.rs')
end)

T.test(':Baton discard closes the applied pull request; :Baton tasks all offers the finished task', function()
  vim.cmd('Baton discard 1')
  T.wait(10000, function()
    return T.find(msgs, 'discarded task #1')
  end, 'the discard message')
  T.wait(5000, function()
    return baton.status(bufnr) == 'Baton: idle'
  end, 'the discarded pull request to leave the statusline')
  T.eq(original, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), 'lib.rs untouched by the discard')
  picks = { '#1 discarded', 'Show details' }
  local selects = #ui.selects
  vim.cmd('Baton tasks all')
  -- The task buffer opened earlier follows the task, so it may say `discarded` already: wait
  -- for the picker's two menus too.
  local buf = T.wait(5000, function()
    local b = vim.fn.bufnr('baton://task/1')
    local shown = b ~= -1 and table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), '\n') or ''
    return #ui.selects >= selects + 2 and shown:find('state: discarded', 1, true) and vim.fn.bufwinid(b) ~= -1 and b
  end, 'the baton://task/1 buffer showing the discarded task')
  T.eq({ 'Show details' }, ui.selects[#ui.selects].titles, 'actions offered for a finished task')
  T.eq('nofile', vim.bo[buf].buftype, 'scratch buffer')
  vim.cmd('close')
  T.eq(bufnr, vim.api.nvim_get_current_buf(), 'back in lib.rs')
end)

T.test(':Baton delegate asks for the prompt and starts a task that becomes ready', function()
  answer = 'Greet with hola'
  local inputs = #ui.inputs
  local events = #task_events
  vim.cmd('Baton delegate')
  T.eq(inputs + 1, #ui.inputs, 'one vim.ui.input prompt')
  T.truthy(ui.inputs[#ui.inputs].prompt:find('background agent', 1, true), 'prompt text')
  local id = last_started()
  T.eq(2, id, 'task id')
  T.truthy(T.find(msgs, 'task #2 started'), 'started message')
  wait_ready(id)
  T.eq('Baton: idle · 1 to review', baton.status(bufnr), 'statusline')
  T.eq({ '2' }, vim.fn.getcompletion('Baton merge ', 'cmdline'), 'completion of the ready task ids')
  T.eq({}, vim.fn.getcompletion('Baton approve-plan ', 'cmdline'), 'no task awaits plan approval')
  -- The BatonTasks autocmds run scheduled, after a burst of notifications may already have
  -- moved the statusline on: check the counts each event carried, then how the statusline
  -- shows such counts.
  local working
  for i = events + 1, #task_events do
    local d = task_events[i].data
    if (d.running or 0) + (d.queued or 0) > 0 then
      working = d
    end
  end
  T.truthy(working, 'a baton/tasks with the task queued or running')
  local client = baton.client(bufnr)
  local latest = baton.tasks[client.id]
  baton.tasks[client.id] = working
  local shown = baton.status(bufnr)
  baton.tasks[client.id] = latest
  T.truthy(shown:find('1 running', 1, true) or shown:find('1 queued', 1, true), 'the statusline shows it: ' .. shown)
  local began = false
  for _, p in ipairs(progress_events) do
    if p.id == id and p.value.kind == 'begin' then
      began = true
    end
  end
  T.truthy(began, '$/progress begin for baton/task/2 (LspProgress)')
end)

T.test(":Baton review opens the diff view in a new tab; the user's window keeps its buffer", function()
  local tabs, win = #vim.api.nvim_list_tabpages(), vim.api.nvim_get_current_win()
  vim.cmd('Baton review 2')
  T.wait(5000, function()
    return T.find(msgs, 'PR #2, file 1 of 1: lib.rs')
  end, 'the review message')
  T.eq(tabs + 1, #vim.api.nvim_list_tabpages(), 'a new tab')
  T.eq(bufnr, vim.api.nvim_win_get_buf(win), "the user's window still shows lib.rs")
  local wins = vim.api.nvim_tabpage_list_wins(0)
  T.eq(2, #wins, 'two windows in the review tab')
  local head = vim.api.nvim_win_get_buf(wins[2])
  T.eq(bufnr, vim.api.nvim_win_get_buf(wins[1]), 'the working file on the left')
  T.truthy(vim.api.nvim_buf_get_name(head):match('baton://pr/2/lib%.rs$'), vim.api.nvim_buf_get_name(head))
  T.eq('nofile', vim.bo[head].buftype, 'the head version is a scratch buffer')
  T.eq(false, vim.bo[head].modifiable, 'read-only')
  local text = table.concat(vim.api.nvim_buf_get_lines(head, 0, -1, false), '\n')
  T.truthy(text:find('println!("hola");', 1, true), "the pull request's line:\n" .. text)
  T.eq(true, vim.wo[wins[1]].diff and vim.wo[wins[2]].diff, 'both windows in diff mode')
  T.feed('q')
  T.eq(tabs, #vim.api.nvim_list_tabpages(), 'q closes the review tab')
  T.eq(win, vim.api.nvim_get_current_win(), "back in the user's window")
  T.eq(false, vim.wo[win].diff, 'no diff mode left behind')
end)

T.test(':Baton request-changes asks for feedback; the agent runs again and the PR is ready again', function()
  answer = 'Greet with salut'
  -- The details buffer opened before follows the task (live log).
  picks = {}
  vim.cmd('Baton show 2')
  local details = T.wait(5000, function()
    local b = vim.fn.bufnr('baton://task/2')
    return b ~= -1 and b
  end, 'the baton://task/2 buffer')
  local function details_text()
    return table.concat(vim.api.nvim_buf_get_lines(details, 0, -1, false), '\n')
  end
  local _, readies = details_text():gsub('%[ready%] ready for review', '')
  vim.cmd('close')
  local events = #task_events
  vim.cmd('Baton request-changes 2')
  T.truthy(ui.inputs[#ui.inputs].prompt:find('PR #2', 1, true), 'feedback prompt: ' .. ui.inputs[#ui.inputs].prompt)
  T.wait(10000, function()
    for i = events + 1, #task_events do
      for _, t in ipairs(task_events[i].data.tasks or {}) do
        if t.id == 2 and t.state ~= 'ready' then
          return true
        end
      end
    end
  end, 'task #2 to leave the ready state')
  wait_ready(2)
  T.wait(5000, function()
    local _, now = details_text():gsub('%[ready%] ready for review', '')
    return now > readies and details_text():find('Greet with salut', 1, true)
  end, 'the details buffer to show the new run without asking again')
end)

T.test(':Baton merge merges the pull request with a sign-off and reloads the buffer', function()
  vim.cmd('Baton merge 2')
  T.wait(10000, function()
    return T.find(msgs, 'merged PR #2')
  end, 'the merge message')
  T.wait(5000, function()
    return line2() == '    println!("salut");'
  end, 'lib.rs reloaded after the merge (with the requested change)')
  local body = git('log', '-1', '--format=%B')
  T.truthy(body:find('Signed-off-by: Test User <test@example.com>', 1, true), 'sign-off trailer in:\n' .. body)
  T.wait(5000, function()
    return baton.status(bufnr) == 'Baton: idle'
  end, 'statusline without tasks')
end)

T.test('delegate code action on a selection; merge refused on a dirty tree; :Baton discard', function()
  require('baton.commands').last_started = nil
  answer = 'Greet with bye'
  picks = { 'Baton: delegate to a background agent' }
  local before = #ui.selects
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  T.feed('V<Cmd>lua vim.lsp.buf.code_action()<CR>')
  T.wait(5000, function()
    return #ui.selects > before
  end, 'the code action menu')
  T.feed('<Esc>')
  local id = last_started()
  wait_ready(id)

  local f = assert(io.open(repo .. '/README.md', 'w'))
  f:write('A local change.\n')
  f:close()
  vim.cmd('Baton merge ' .. id)
  local refused = T.wait(10000, function()
    return T.find(msgs, 'refusing to merge')
  end, 'the refusal')
  T.truthy(refused:find('README.md', 1, true), 'names the dirty file: ' .. refused)
  T.eq('A local change.\n', T.read(repo .. '/README.md'), 'the local change is kept')
  git('checkout', '--', 'README.md')

  local branch = task(id).branch
  T.truthy(branch and git('branch', '--list', branch) ~= '', 'the task branch exists')
  picks = { ('#%d ready'):format(id) }
  vim.cmd('Baton discard')
  T.wait(10000, function()
    return not task(id)
  end, 'the discarded task to leave baton/tasks')
  T.wait(5000, function()
    return T.find(msgs, ('discarded task #%d'):format(id))
  end, 'the discard message')
  T.eq('', git('branch', '--list', branch), 'branch removed')
  T.eq(
    '    println!("salut");',
    vim.split(T.read(repo .. '/lib.rs'), '\n')[2],
    'lib.rs untouched by the discarded task'
  )
end)

T.test(
  ':Baton delegate --agent= lists the agents, presets included, and starts the task with the one picked',
  function()
    answer = 'Greet with ciao'
    picks = { 'second (' }
    local commands = require('baton.commands')
    commands.last_started = nil
    local selects = #ui.selects
    vim.cmd('Baton delegate --agent=')
    local id = last_started()
    local s = ui.selects[selects + 1]
    T.eq('Baton: delegate to which agent?', s and s.prompt, 'one agent menu')
    local titles = table.concat(s.titles, '\n')
    for _, want in ipairs({
      'scripted (cli, installed)',
      'second (cli, installed)',
      'gemini (acp, ',
      'cursor (acp, missing)',
    }) do
      T.truthy(titles:find(want, 1, true), ('%q among the agents:\n%s'):format(want, titles))
    end
    T.eq('second', wait_ready(id).agent, 'the task runs the agent picked')
    T.truthy(T.find(msgs, 'agent second'), 'the started message names the agent')
  end
)

T.test(':checkhealth baton reports task support', function()
  vim.cmd('checkhealth baton')
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  vim.cmd('bwipeout')
  for _, want in ipairs({
    'data directory ' .. data_dir .. ' ($BATON_DATA_DIR)',
    '`baton task list` works',
    'the server runs the task and pull request commands',
  }) do
    T.truthy(text:find(want, 1, true), ('%q in the report:\n%s'):format(want, text))
  end
end)

T.run()
