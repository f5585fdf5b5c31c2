#!/usr/bin/env python3
"""Writes tests/nes/fixtures/*.json: per public NES client, the messages it sends for one edit
(rename the parameter `count` to `total` on line 1 of a small Python file) and the next-edit
request, in order, and a response of the documented shape that a server such as Baton should
give for it (the remaining `count` on line 2 renamed).

- nvim-copilot-lsp.json, nvim-sidekick.json: recorded from real Neovim 0.11 by capture_nvim.sh
  (fixtures/raw/*.jsonl), messages kept verbatim.
- emacs-copilot-el.json: built from copilot.el's source (copilot-nes.el): the NES request, the
  shown notification and the accept notification are as that file builds them; the document
  sync around them is ordinary LSP (copilot.el's own sync was not recorded: no Emacs package of
  copilot.el is reachable from here), marked `synthesized`.
- readme-copilot-language-server.json: the request and result shapes of the Copilot language
  server's README (NES section added in 1.400.0), which the VS Code adapter follows (its source was
  not found; see PROTOCOL.md), with the same document.

Usage: python3 tests/nes/capture/make_fixtures.py
"""

from __future__ import annotations

import json
from pathlib import Path

NES = Path(__file__).resolve().parent.parent
RAW = NES / "fixtures" / "raw"
OUT = NES / "fixtures"

URI = "file:///tmp/baton-nes-fixture/src/calc.py"
TEXT = "# Prix unitaire en \u20ac\ndef \u00e9chelle(count, factor):\n    return count * factor\n"
KEEP = {
    "initialize", "initialized", "workspace/didChangeConfiguration", "textDocument/didOpen",
    "textDocument/didFocus", "textDocument/didChange", "textDocument/copilotInlineEdit",
    "textDocument/didShowInlineEdit", "workspace/executeCommand",
}


def response(version: int) -> dict:
    """The answer Baton should give: the other `count` (line 2, UTF-16 11..16) renamed. The command
    name and the tagged argument are Baton's proposal (PROTOCOL.md, "Source tag")."""
    return {"result": {"edits": [{
        "text": "total",
        "range": {"start": {"line": 2, "character": 11}, "end": {"line": 2, "character": 16}},
        "textDocument": {"uri": URI, "version": version},
        "command": {"title": "Accept next edit", "command": "baton.nes.accept", "arguments": ["structural:1"]},
    }]}}


def recorded(name: str) -> list[dict]:
    msgs = [json.loads(line) for line in (RAW / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    return [m for m in msgs if m.get("method") in KEEP]


def version_of_request(msgs: list[dict]) -> int:
    return next(m for m in msgs if m.get("method") == "textDocument/copilotInlineEdit")["params"]["textDocument"][
        "version"]


def write(name: str, fx: dict) -> None:
    (OUT / f"{name}.json").write_text(json.dumps(fx, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    common_sources = ["Copilot language server README, NES section (npm @github/copilot-language-server 1.400.0+)"]
    msgs = recorded("nvim-copilot-lsp")
    write("nvim-copilot-lsp", {
        "client": "copilot-lsp (Neovim plugin, copilotlsp-nvim/copilot-lsp)",
        "sources": ["lua/copilot-lsp/nes/init.lua (request_nes, handle_nes_response, apply_pending_nes)",
                    "lua/copilot-lsp/util.lua (apply_inline_edit)", "lsp/copilot_ls.lua (settings)"] + common_sources,
        "how": "recorded: real Neovim 0.11.4 driven through the plugin's steps (capture/nvim_capture.lua) against "
               "stub_server.py, which announced no positionEncoding (UTF-16)",
        "notes": ["position is always UTF-16 (make_position_params(0, 'utf-16')), whatever the server negotiated",
                  "shown: didShowInlineEdit carries only {item: {command}} of the first edit",
                  "accepted: the edit is applied locally (UTF-16); no command is executed, no notification "
                  "is sent beyond the didChange"],
        "messages": msgs,
        "response": response(version_of_request(msgs)),
    })
    msgs = recorded("nvim-sidekick")
    write("nvim-sidekick", {
        "client": "sidekick.nvim (Neovim plugin, folke/sidekick.nvim)",
        "sources": ["lua/sidekick/nes/init.lua (update, _handler, apply)",
                    "lua/sidekick/config.lua (get_client: a client whose name contains 'copilot')"] + common_sources,
        "how": "recorded: real Neovim 0.11.4 driven through the plugin's steps (capture/nvim_capture.lua) against "
               "stub_server.py, which announced no positionEncoding (UTF-16)",
        "notes": ["position in the client's negotiated offset encoding",
                  "no didShowInlineEdit in the versions read",
                  "accepted: every returned edit is applied at once, then each edit's command runs as a "
                  "workspace/executeCommand request"],
        "messages": msgs,
        "response": response(version_of_request(msgs)),
    })
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": 4242,
        "capabilities": {"workspace": {"workspaceFolders": True}},
        "initializationOptions": {"editorInfo": {"name": "Emacs", "version": "30.1"},
                                  "editorPluginInfo": {"name": "copilot.el", "version": "0.5.0"}}}}
    write("emacs-copilot-el", {
        "client": "copilot.el (Emacs package, copilot-emacs/copilot.el), copilot-nes-mode",
        "sources": ["copilot-nes.el (copilot-nes--request, copilot-nes--display, copilot-nes-accept, "
                    "copilot-nes--handle-response)", "copilot.el (copilot--start-server, copilot--lsp-pos)"]
        + common_sources,
        "how": "built from the source (not recorded); messages marked synthesized are ordinary LSP document sync "
               "standing in for copilot.el's own",
        "notes": ["version: copilot.el's own per-buffer counter (copilot--doc-version), incremented per change",
                  "position.character in UTF-16 code units (copilot--lsp-pos); the client offers no "
                  "positionEncodings, so UTF-16 is the only valid choice",
                  "only edits[0] is used, and only if its textDocument uri and version equal the request's",
                  "accepted: workspace/executeCommand is sent as a NOTIFICATION (no id) with the edit's command "
                  "and arguments",
                  "after an accept copilot-nes-mode requests again only after a text-changing command"],
        "messages": [
            init,
            {"jsonrpc": "2.0", "method": "initialized", "params": {}},
            {"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": {"settings": {}}},
            {"synthesized": True, "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": URI, "languageId": "python", "version": 0, "text": TEXT}}},
            {"synthesized": True, "jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": URI, "version": 1},
                "contentChanges": [{"range": {"start": {"line": 1, "character": 12},
                                              "end": {"line": 1, "character": 17}}, "text": "total"}]}},
            {"jsonrpc": "2.0", "id": 2, "method": "textDocument/copilotInlineEdit", "params": {
                "textDocument": {"uri": URI, "version": 1}, "position": {"line": 1, "character": 17}}},
            {"jsonrpc": "2.0", "method": "textDocument/didShowInlineEdit", "params": {"item": {
                "command": response(1)["result"]["edits"][0]["command"]}}},
            {"synthesized": True, "jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": URI, "version": 2},
                "contentChanges": [{"range": {"start": {"line": 2, "character": 11},
                                              "end": {"line": 2, "character": 16}}, "text": "total"}]}},
            {"jsonrpc": "2.0", "method": "workspace/executeCommand", "params": {
                "command": "baton.nes.accept", "arguments": ["structural:1"]}},
        ],
        "response": response(1),
    })
    write("readme-copilot-language-server", {
        "client": "the Copilot language server's documented protocol (followed by the VS Code adapter "
                  "statiolake.vscode-copilot-lsp, whose source was not available here)",
        "sources": common_sources + ["VS Code Marketplace page of statiolake.vscode-copilot-lsp"],
        "how": "built from the README's request and result examples, with this fixture's document",
        "notes": ["the README calls the edits alternatives to cycle through, like inline completion items",
                  "the command is run with workspace/executeCommand after the user accepts (telemetry)"],
        "messages": [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "processId": 4242, "capabilities": {"workspace": {"workspaceFolders": True}},
                "initializationOptions": {"editorInfo": {"name": "Visual Studio Code", "version": "1.105.0"},
                                          "editorPluginInfo": {"name": "vscode-copilot-lsp", "version": "0.0.0"}}}},
            {"jsonrpc": "2.0", "method": "initialized", "params": {}},
            {"synthesized": True, "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": URI, "languageId": "python", "version": 1, "text": TEXT}}},
            {"synthesized": True, "jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": URI, "version": 2},
                "contentChanges": [{"range": {"start": {"line": 1, "character": 12},
                                              "end": {"line": 1, "character": 17}}, "text": "total"}]}},
            {"jsonrpc": "2.0", "id": 2, "method": "textDocument/copilotInlineEdit", "params": {
                "textDocument": {"uri": URI, "version": 2}, "position": {"line": 1, "character": 17}}},
            {"jsonrpc": "2.0", "id": 3, "method": "workspace/executeCommand", "params": {
                "command": "baton.nes.accept", "arguments": ["structural:1"]}},
        ],
        "response": response(2),
    })


if __name__ == "__main__":
    main()
