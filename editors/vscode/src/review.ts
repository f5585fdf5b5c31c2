// Read-only virtual documents: a task's details (`baton-task:`) and the two sides of each file
// of its pull request (`baton-pr:`), and review in VS Code's own diff editor on them.
import * as vscode from 'vscode';

import { TASK_FILE, TASK_FILES, TaskFileResult, TaskFilesResult } from './protocol';

/** Scheme of a pull request file's side: `baton-pr:/<path>?task=<id>&side=base|head`. */
export const PR_SCHEME = 'baton-pr';
/** Scheme of a task's details: `baton-task:/Baton task <id>.txt` (the server's rendered details, plain text). */
export const TASK_SCHEME = 'baton-task';

/** Sends a request to the running server. */
export type Request = <R>(method: string, params: object) => Promise<R>;

/** The document of `path` on `side` of task `taskId`'s pull request. */
export function sideUri(taskId: number, path: string, side: 'base' | 'head'): vscode.Uri {
  return vscode.Uri.from({ scheme: PR_SCHEME, path: `/${path}`, query: `task=${taskId}&side=${side}` });
}

/** Serves `baton-pr:` documents from `baton/taskFile` (empty where the file does not exist). */
export class PullRequestFiles implements vscode.TextDocumentContentProvider {
  constructor(private readonly request: Request) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const q = new URLSearchParams(uri.query);
    const params = { taskId: Number(q.get('task')), path: uri.path.replace(/^\//, ''), side: q.get('side') === 'base' ? 'base' : 'head' };
    const r = await this.request<TaskFileResult>(TASK_FILE, params);
    return r.text ?? '';
  }
}

/** The document of task `id`'s details. */
export function taskUri(id: number): vscode.Uri {
  return vscode.Uri.from({ scheme: TASK_SCHEME, path: `/Baton task ${id}.txt` });
}

/** Serves `baton-task:` documents (text from `render`); `refresh` re-reads the open ones. */
export class TaskDocuments implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly render: (id: number) => Promise<string>) {}

  provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const id = Number(/(\d+)\.txt$/.exec(uri.path)?.[1]);
    return this.render(id);
  }

  /** Re-reads every open task document (a task changed: its state, log or pull request). */
  refresh(): void {
    for (const doc of vscode.workspace.textDocuments) {
      if (doc.uri.scheme === TASK_SCHEME) this.changed.fire(doc.uri);
    }
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/**
 * Reviews task `taskId`'s pull request in VS Code's diff editor, base on the left, head on the
 * right, both read-only: one file opens directly; several offer all of them in one multi-diff
 * editor (`vscode.changes`) or one at a time.
 */
export async function reviewPullRequest(request: Request, taskId: number, title: string): Promise<void> {
  const { files } = await request<TaskFilesResult>(TASK_FILES, { taskId });
  if (files.length === 0) {
    void vscode.window.showInformationMessage(`Baton: PR #${taskId} changes no file.`);
    return;
  }
  const diff = (path: string) =>
    vscode.commands.executeCommand('vscode.diff', sideUri(taskId, path, 'base'), sideUri(taskId, path, 'head'), `${path} (Baton PR #${taskId})`, {
      preview: files.length > 1,
    });
  if (files.length === 1) {
    await diff(files[0].path);
    return;
  }
  type Item = vscode.QuickPickItem & { path?: string };
  const items: Item[] = [
    { label: `$(diff-multiple) All ${files.length} files`, description: title },
    ...files.map((f) => ({ label: f.path, description: f.status, path: f.path })),
  ];
  const picked = await vscode.window.showQuickPick(items, { title: `Baton: review PR #${taskId}: ${title}`, matchOnDescription: true });
  if (!picked) return;
  if (picked.path) {
    await diff(picked.path);
    return;
  }
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const resources = files.map((f) => [
    folder ? vscode.Uri.joinPath(folder, f.path) : sideUri(taskId, f.path, 'head'),
    sideUri(taskId, f.path, 'base'),
    sideUri(taskId, f.path, 'head'),
  ]);
  await vscode.commands.executeCommand('vscode.changes', `Baton PR #${taskId}: ${title}`, resources);
}
