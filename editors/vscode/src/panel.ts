// The completions panel ("Baton: Open Completions Panel"): up to 10 suggestions at the cursor
// from `baton/completionPanel`, listed in a quick pick that opens at once and fills in when the
// server answers; the chosen one is inserted at the position the panel was opened for, as one
// undoable edit, unless the document changed since.
import * as vscode from 'vscode';
import { LanguageClient } from 'vscode-languageclient/node';

import { PanelRow, panelRows } from './panelItems';
import { COMPLETION_PANEL, CompletionPanelParams, CompletionPanelResult } from './protocol';

/** Suggestions asked for (the server's most). */
const COUNT = 10;

type Row = vscode.QuickPickItem & { row: PanelRow };

function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'message' in e) return String(e.message);
  return String(e);
}

/** Shows the panel for the active editor's cursor and inserts the suggestion the user picks.
 * Throws when no editor is active or the editor refuses the edit; the server's refusals and
 * failures are shown as messages. */
export async function openCompletionsPanel(client: LanguageClient): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) throw new Error('open a file and put the cursor where the suggestions should go');
  const document = editor.document;
  const version = document.version;
  const c2p = client.code2ProtocolConverter;
  const params: CompletionPanelParams = {
    textDocument: { uri: c2p.asUri(document.uri), version },
    position: c2p.asPosition(editor.selection.active),
    count: COUNT,
  };
  const pick = vscode.window.createQuickPick<Row>();
  pick.title = 'Baton: suggestions';
  pick.placeholder = `Asking the model for up to ${COUNT} suggestions…`;
  pick.matchOnDetail = true;
  pick.busy = true;
  const cancel = new vscode.CancellationTokenSource();
  let result: CompletionPanelResult | undefined;
  const chosen = new Promise<number | undefined>((resolve) => {
    pick.onDidAccept(() => {
      const row = pick.selectedItems[0]?.row;
      if (!row) return;
      resolve(row.index);
      pick.hide();
    });
    pick.onDidHide(() => {
      resolve(undefined);
      // Closed before the answer: the server stops working on it.
      cancel.cancel();
      pick.dispose();
    });
  });
  pick.show();
  client.sendRequest<CompletionPanelResult>(COMPLETION_PANEL, params, cancel.token).then(
    (r) => {
      result = r;
      pick.busy = false;
      if (r.items.length === 0) {
        pick.placeholder = 'Baton: the model has no suggestion here (Escape closes)';
        return;
      }
      pick.placeholder = `${r.items.length} suggestion(s): Enter inserts the selected one`;
      pick.items = panelRows(r.items).map((row) => ({ label: row.label, description: row.description, detail: row.detail, row }));
    },
    (e: unknown) => {
      if (cancel.token.isCancellationRequested) return;
      pick.hide();
      void vscode.window.showErrorMessage(`Baton: no suggestions: ${errorMessage(e)}`);
    },
  );
  const index = await chosen;
  const item = index === undefined ? undefined : result?.items[index];
  if (!item || !result) return;
  if (document.isClosed || document.version !== version || result.version !== version) {
    void vscode.window.showWarningMessage(
      'Baton: the document changed since the panel opened, so the suggestion would land in the wrong place; open the panel again.',
    );
    return;
  }
  const range = client.protocol2CodeConverter.asRange(item.range);
  const target = await vscode.window.showTextDocument(document, editor.viewColumn);
  if (!(await target.edit((b) => b.replace(range, item.insertText)))) throw new Error('the editor did not insert the suggestion');
  const end = document.positionAt(document.offsetAt(range.start) + item.insertText.length);
  target.selection = new vscode.Selection(end, end);
}
