// Starts `evr lsp` for .evr files. Everything else — diagnostics, hover, completion,
// navigation, rename — comes from the server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("evr").get("path") || "evr";
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "evr",
    "evr language server",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "evr" }] }
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
