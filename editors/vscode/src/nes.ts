// Next edit suggestions: after a change, asks the server for the edit the user will make next
// (`textDocument/copilotInlineEdit`), shows the first one at its place with decorations, and
// lets Tab jump to it and Tab again apply it; Escape dismisses it.
import * as vscode from 'vscode';
import { ExecuteCommandRequest, LanguageClient } from 'vscode-languageclient/node';

import { DID_SHOW_INLINE_EDIT, INLINE_EDIT, InlineEdit, InlineEditResult, NES_DISMISS } from './protocol';

/** The context key the Tab and Escape keybindings check (package.json). */
export const VISIBLE_KEY = 'baton.nextEditVisible';
/** Milliseconds after the last change before asking (the server debounces the model itself). */
const DEBOUNCE_MS = 75;

interface Shown {
  editor: vscode.TextEditor;
  edit: InlineEdit;
  range: vscode.Range;
  client: LanguageClient;
}

/** Shows one next edit at a time, in the active editor. */
export class NextEdits implements vscode.Disposable {
  private shown: Shown | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Settles when the scheduled request has been answered (or superseded). */
  private inflight: { done: Promise<void>; resolve: () => void } | undefined;
  private pending: vscode.CancellationTokenSource | undefined;
  private readonly removed = vscode.window.createTextEditorDecorationType({
    textDecoration: 'line-through',
    backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
  });
  private readonly inserted = vscode.window.createTextEditorDecorationType({});
  private readonly subscriptions: vscode.Disposable[];

  /** `client` gives the running language client, if any. */
  constructor(private readonly client: () => LanguageClient | undefined) {
    this.subscriptions = [
      this.removed,
      this.inserted,
      vscode.workspace.onDidChangeTextDocument((e) => this.changed(e)),
      vscode.window.onDidChangeActiveTextEditor(() => this.clear()),
    ];
  }

  private changed(e: vscode.TextDocumentChangeEvent): void {
    if (e.contentChanges.length === 0) return;
    const editor = vscode.window.activeTextEditor;
    if (this.shown && this.shown.editor.document === e.document) this.clear();
    if (!editor || editor.document !== e.document || !['file', 'untitled'].includes(e.document.uri.scheme)) return;
    if (!vscode.workspace.getConfiguration('baton', e.document.uri).get<boolean>('nes.enabled', true)) return;
    if (this.timer) clearTimeout(this.timer);
    this.inflight?.resolve();
    let resolve = () => {};
    const done = new Promise<void>((r) => (resolve = r));
    const inflight = { done, resolve };
    this.inflight = inflight;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.request(editor)
        .catch(() => undefined)
        .finally(() => {
          if (this.inflight === inflight) this.inflight = undefined;
          resolve();
        });
    }, DEBOUNCE_MS);
  }

  /** Waits for the newest scheduled request: a key pressed as the shown edit was replaced acts on
   * the new one (the old one's decorations may still have been on screen). */
  private async settled(): Promise<void> {
    for (let i = 0; i < 10 && this.inflight; i++) await this.inflight.done;
  }

  /** Asks for the next edit at the cursor of `editor` and shows the first one still valid. */
  async request(editor: vscode.TextEditor): Promise<void> {
    const client = this.client();
    if (!client?.isRunning()) return;
    this.pending?.cancel();
    const source = new vscode.CancellationTokenSource();
    this.pending = source;
    const doc = editor.document;
    const version = doc.version;
    const params = {
      textDocument: { uri: client.code2ProtocolConverter.asUri(doc.uri), version },
      position: client.code2ProtocolConverter.asPosition(editor.selection.active),
    };
    const result = await client.sendRequest<InlineEditResult | null>(INLINE_EDIT, params, source.token);
    if (this.pending === source) this.pending = undefined;
    const edit = result?.edits?.[0];
    // An answer for a version the user has typed past is stale.
    if (source.token.isCancellationRequested || !edit || doc.version !== version || vscode.window.activeTextEditor !== editor) return;
    if (edit.textDocument && (edit.textDocument.version !== version || edit.textDocument.uri !== params.textDocument.uri)) return;
    const range = doc.validateRange(client.protocol2CodeConverter.asRange(edit.range));
    this.show({ editor, edit, range, client });
  }

  private show(s: Shown): void {
    this.shown = s;
    s.editor.setDecorations(this.removed, s.range.isEmpty ? [] : [s.range]);
    // The new text after the range; a multi-line one on one line, its breaks marked.
    const text = s.edit.text.replace(/\r?\n/g, ' ⏎ ');
    s.editor.setDecorations(this.inserted, [
      {
        range: new vscode.Range(s.range.end, s.range.end),
        hoverMessage: new vscode.MarkdownString().appendText('Baton next edit: Tab to go there, Tab again to apply, Escape to dismiss'),
        renderOptions: {
          after: {
            contentText: text || '⌫',
            color: new vscode.ThemeColor('editorGhostText.foreground'),
            backgroundColor: new vscode.ThemeColor('diffEditor.insertedTextBackground'),
            margin: '0 0 0 2px',
          },
        },
      },
    ]);
    void vscode.commands.executeCommand('setContext', VISIBLE_KEY, true);
    void s.client.sendNotification(DID_SHOW_INLINE_EDIT, { item: { command: s.edit.command } }).catch(() => undefined);
  }

  /** Removes the shown edit (without telling the server). */
  clear(): void {
    if (!this.shown) return;
    const { editor } = this.shown;
    this.shown = undefined;
    editor.setDecorations(this.removed, []);
    editor.setDecorations(this.inserted, []);
    void vscode.commands.executeCommand('setContext', VISIBLE_KEY, false);
  }

  /**
   * Tab: moves the cursor to the shown edit when it is elsewhere; applies it (one undo step)
   * and runs its command through the language client when the cursor is there.
   */
  async acceptOrJump(): Promise<void> {
    if (!this.shown) await this.settled();
    const s = this.shown;
    if (!s) return;
    const { editor, range } = s;
    if (!editor.selection.isEmpty || !editor.selection.active.isEqual(range.start)) {
      editor.selection = new vscode.Selection(range.start, range.start);
      editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      return;
    }
    this.clear();
    // The editor's own edit, one undo step, sent to the server as the one replacement it is (a
    // WorkspaceEdit reaches the server diffed into several small changes, which hides the
    // rename the next prediction follows from).
    if (!(await editor.edit((b) => b.replace(range, s.edit.text)))) return;
    const command = s.edit.command;
    if (command?.command) {
      await s.client.sendRequest(ExecuteCommandRequest.type, { command: command.command, arguments: command.arguments ?? [] });
    }
  }

  /** Escape: hides the shown edit and tells the server it was dismissed. */
  async dismiss(): Promise<void> {
    if (!this.shown) await this.settled();
    const s = this.shown;
    if (!s) return;
    this.clear();
    const args = s.edit.command?.arguments;
    if (args?.length) await s.client.sendRequest(ExecuteCommandRequest.type, { command: NES_DISMISS, arguments: args });
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.inflight?.resolve();
    this.pending?.cancel();
    this.clear();
    for (const d of this.subscriptions) d.dispose();
  }
}
