// The Moviola extension: starts `moviola lsp` for .fountain files. Everything else (diagnostics,
// completion, hover, outline, rename, code lenses, render commands with progress) comes from the
// language server; the commands below only add "at the cursor" entries to the command palette.
"use strict";

const vscode = require("vscode");
const { LanguageClient, ExecuteCommandRequest } = require("vscode-languageclient/node");

let client;

function serverOptions() {
  const config = vscode.workspace.getConfiguration("moviola");
  // No `transport`: the server speaks on stdin/stdout and takes no --stdio flag.
  return { command: config.get("server.command", "moviola"), args: config.get("server.args", ["lsp"]) };
}

function clientOptions() {
  const workers = vscode.workspace.getConfiguration("moviola").get("buildWorkers");
  return {
    documentSelector: [
      { scheme: "file", language: "fountain" },
      { scheme: "untitled", language: "fountain" },
    ],
    initializationOptions: Number.isInteger(workers) ? { buildWorkers: workers } : {},
  };
}

async function render(command, withCursor) {
  const editor = vscode.window.activeTextEditor;
  if (!client || !editor || editor.document.languageId !== "fountain") {
    vscode.window.showWarningMessage("Moviola: open a .fountain script first");
    return;
  }
  await editor.document.save();
  const args = [editor.document.uri.toString()];
  if (withCursor) {
    args.push({ line: editor.selection.active.line + 1 });
  }
  // The server reports progress (cancellable) through window/workDoneProgress.
  const result = await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  if (result && result.ok) {
    const where = result.output ? ` → ${result.output}` : "";
    vscode.window.showInformationMessage(
      `Moviola: rendered ${result.scope}${where} (${result.executed} jobs rendered, ${result.cached} cached)`);
  }
}

async function activate(context) {
  client = new LanguageClient("moviola", "Moviola", serverOptions(), clientOptions());
  context.subscriptions.push(
    vscode.commands.registerCommand("moviola.buildFilm", () => render("moviola.build", false)),
    vscode.commands.registerCommand("moviola.buildSceneAtCursor", () => render("moviola.buildScene", true)),
    vscode.commands.registerCommand("moviola.buildShotAtCursor", () => render("moviola.buildShot", true)),
    vscode.commands.registerCommand("moviola.restartServer", () => client.restart()),
  );
  await client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
