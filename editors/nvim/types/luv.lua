---@meta
-- The parts of luv (`vim.uv`) the plugin uses, for the type check only (test.sh's emmylua_check).
-- Neovim's runtime types `vim.uv` as `uv` but ships no definition of it; lua-language-server
-- brings luv's own as an addon, which no package registry carries.

---@class uv
local uv = {}

---A monotonic clock, in nanoseconds.
---@return integer
function uv.hrtime() end

---The loop's cached time, in milliseconds.
---@return integer
function uv.now() end

---@return uv.uv_timer_t?, string? err_name, string? err_msg
function uv.new_timer() end

---@return string?
function uv.os_homedir() end

---@return string?
function uv.cwd() end

---@class uv.uv_timer_t
local timer = {}

---Calls `callback` after `timeout` milliseconds, then every `rep` milliseconds (0: once).
---@param timeout integer
---@param rep integer
---@param callback fun()
---@return 0|nil success, string? err_name, string? err_msg
function timer:start(timeout, rep, callback) end

---@return 0|nil success, string? err_name, string? err_msg
function timer:stop() end

---@param callback? fun()
function timer:close(callback) end
