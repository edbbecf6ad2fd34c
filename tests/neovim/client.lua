-- Drives `evr lsp` through Neovim's built-in LSP client, headless. Invoked by the cli test
-- `lsp_in_neovim` as: EVR=<binary> EVR_DIR=<bundle dir> EVR_OUT=<file> nvim --headless --clean
-- -c 'luafile client.lua'. Writes one JSON object per check to EVR_OUT and quits; the test
-- reads them. Runs on Neovim 0.7 (Debian's) and later.
local out = assert(io.open(os.getenv("EVR_OUT"), "w"))
local function record(name, value)
  out:write(vim.fn.json_encode({ check = name, value = value }) .. "\n")
  out:flush()
end

local ok, err = pcall(function()
  local dir = os.getenv("EVR_DIR")
  local path = dir .. "/rules.evr"
  vim.cmd("edit " .. vim.fn.fnameescape(path))
  local buf = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({ cmd = { os.getenv("EVR"), "lsp" }, root_dir = dir, name = "evr" })
  assert(client_id, "the client starts")
  vim.lsp.buf_attach_client(buf, client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  assert(vim.wait(10000, function() return client.initialized end, 20), "the server initializes")

  -- Diagnostics as the file was opened: the fixture holds one error.
  vim.wait(10000, function() return #vim.diagnostic.get(buf) > 0 end, 20)
  local diags = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(diags, { line = d.lnum, code = d.code, message = d.message })
  end
  record("diagnostics", diags)

  local function at(line, col)
    return { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = line, character = col } }
  end
  -- Line 9 (0-based 8): `  let who = buyer.uid;`; `buyer` starts at column 12.
  local hover = client.request_sync("textDocument/hover", at(8, 13), 5000, buf)
  record("hover", hover and hover.result and hover.result.contents.value or vim.NIL)

  local completion = client.request_sync("textDocument/completion", at(8, 18), 5000, buf)
  local labels = {}
  for _, item in ipairs(completion and completion.result or {}) do
    table.insert(labels, item.label)
  end
  record("completion", labels)

  -- Fix the error by editing the buffer: the server hears didChange and clears it.
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  for i, l in ipairs(lines) do
    lines[i] = l:gsub("route pai;", "route paid;")
  end
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.wait(10000, function() return #vim.diagnostic.get(buf) == 0 end, 20)
  record("diagnostics after the fix", #vim.diagnostic.get(buf))

  -- Rename the local `who` (line 9, column 7) and read the buffer back.
  local rename = client.request_sync("textDocument/rename", vim.tbl_extend("force", at(8, 7), { newName = "buyer_id" }), 5000, buf)
  assert(rename and rename.result, "rename answers")
  vim.lsp.util.apply_workspace_edit(rename.result, client.offset_encoding or "utf-16")
  record("after rename", vim.api.nvim_buf_get_lines(buf, 7, 10, false))

  vim.lsp.stop_client(client_id)
  vim.wait(5000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 20)
end)
if not ok then
  record("error", tostring(err))
end
out:close()
vim.cmd("qa!")
