// Baton's protocol extensions as this extension uses them. The names are checked against
// editors/protocol.json (generated from the server's server/lsp/ext.rs) by test/unit.

/** Server → client notification with the model's state, for the status bar. */
export const STATUS = 'baton/status';
/** Server → client notification with task counts and summaries. */
export const TASKS = 'baton/tasks';
/** Client → server request: version, provider, reachability, counters. */
export const HEALTH = 'baton/health';
/** Client → server request: every agent profile, the built-in presets included, with what is
 * installed and ready ({@link AgentReport}[]); takes up to 10 s (the agents' `--version`). */
export const AGENTS = 'baton/agents';

/** One entry of {@link AGENTS} (the fields this extension shows). */
export interface AgentReport {
  name: string;
  /** `acp`, `cli` or `builtin`. */
  kind: string;
  /** `builtin`, `preset`, `preset+profile` or `profile`. */
  source: string;
  installed: boolean;
  version?: string;
  /** Absent when it cannot be known without starting the agent. */
  ready?: boolean;
  note?: string;
  /** What to show: `missing`, `old runtime`, `needs login`, `ready` or `installed`. */
  state: string;
}

/** Client → server request: the files a task's pull request changes ({@link TaskFilesResult}). */
export const TASK_FILES = 'baton/taskFiles';
/** Client → server request: one changed file's text on the base or head side ({@link TaskFileResult}). */
export const TASK_FILE = 'baton/taskFile';

/** Client → server request: up to 10 suggestions at a position for the completions panel
 * ({@link CompletionPanelParams} → {@link CompletionPanelResult}). */
export const COMPLETION_PANEL = 'baton/completionPanel';

/** Params of {@link COMPLETION_PANEL}; the position in UTF-16 (what vscode-languageclient
 * negotiates). The server refuses a `version` its copy is not at (ContentModified). */
export interface CompletionPanelParams {
  textDocument: { uri: string; version?: number };
  position: { line: number; character: number };
  /** 1 to 10; 10 when absent. */
  count?: number;
}

/** One suggestion of the panel: replace `range` with `insertText` (plain text). */
export interface PanelItem {
  insertText: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
}

/** Result of {@link COMPLETION_PANEL}: the items for document `version`, the usual one first,
 * no two alike. */
export interface CompletionPanelResult {
  version: number;
  items: PanelItem[];
}

/** Client → server request: next edit suggestions (GitHub Copilot's method), {@link InlineEditResult}. */
export const INLINE_EDIT = 'textDocument/copilotInlineEdit';
/** Client → server notification: a next edit is shown, `{ item: { command } }`. */
export const DID_SHOW_INLINE_EDIT = 'textDocument/didShowInlineEdit';
/** Server command: the user dismissed a next edit (its accept command's one string argument). */
export const NES_DISMISS = 'baton.nes.dismiss';

/** One next edit: replace `range` (UTF-16, of `textDocument.version`) with `text`, then run
 * `command` (`baton.nes.accept` with one string). */
export interface InlineEdit {
  text: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  textDocument?: { uri: string; version: number };
  command?: { title: string; command: string; arguments?: unknown[] };
}

/** Result of {@link INLINE_EDIT} (params `{ textDocument: { uri, version }, position }`);
 * several edits are alternatives, the first the best. */
export interface InlineEditResult {
  edits: InlineEdit[];
}

/** `workspace/executeCommand` commands the extension sends itself (one object argument). */
export const CMD = {
  edit: 'baton.edit',
  taskStart: 'baton.task.start',
  taskList: 'baton.task.list',
  taskShow: 'baton.task.show',
  taskApprovePlan: 'baton.task.approvePlan',
  taskResume: 'baton.task.resume',
  prReview: 'baton.pr.review',
  prApply: 'baton.pr.apply',
  prMerge: 'baton.pr.merge',
  prRequestChanges: 'baton.pr.requestChanges',
  prDiscard: 'baton.pr.discard',
} as const;

/** The client capabilities declared in `initialize`, under `capabilities.experimental`. */
export const EXPERIMENTAL_CAPABILITIES = { baton: { status: true, tasks: true } } as const;

/** Result of `baton/health` (server/handlers/health.rs). */
export interface HealthResult {
  version: string;
  provider: string;
  baseUrl: string;
  model: string;
  /** The model server's state. */
  state: 'unknown' | 'ok' | 'slow' | 'unreachable' | 'error';
  reachable: boolean;
  /** Why the model server is unreachable, or the last error; null when all is well. */
  message?: string | null;
  /** A check of the model server is running. */
  checking?: boolean;
  positionEncoding: string;
  documents: number;
  counters?: Record<string, number>;
}

/** Params of `baton/status`. */
export interface StatusParams {
  state: 'idle' | 'working' | 'error' | 'slow' | 'unreachable';
  message?: string;
  provider: string;
  model: string;
}

/** One thing the user can do with a task (ids in protocol.json's `taskActions`); `command`
 * takes `{ id: task id }`. */
export interface TaskAction {
  id: string;
  title: string;
  command: string;
}

/** One task as `baton/tasks` and `baton.task.list` give it. */
export interface TaskSummary {
  id: number;
  title: string;
  state: string;
  agent: string;
  branch?: string;
  message?: string;
  diffStat?: string;
  checks?: string;
  /** What its state allows, in the order to offer them: the extension offers exactly these. */
  actions?: TaskAction[];
  /** The task rendered as text (lines end with `\n`). */
  details?: string;
}

/** Result of `baton.task.show` (`{ id }`), as far as the extension reads it. */
export interface TaskShowResult {
  task: TaskSummary & { prompt?: string; summaryText?: string | null };
  log: { timeMs: number; line: string }[];
  pullRequest: { title: string; diffStat: string; files: { path: string; lines: [number, number][] }[] } | null;
  signoffs: { who: string; whenMs: number; action: string; headCommit: string; checks: string }[];
  /** The whole task as text, with the prompt, check output and log (lines end with `\n`). */
  details: string;
}

/** Params of `baton/tasks`. */
export interface TasksParams {
  queued: number;
  running: number;
  awaitingReview: number;
  awaitingPlanApproval: number;
  failed: number;
  interrupted: number;
  tasks: TaskSummary[];
}

/** Result of `baton/taskFiles` (params `{ taskId }`). */
export interface TaskFilesResult {
  files: { path: string; status: 'added' | 'deleted' | 'modified' }[];
}

/** Result of `baton/taskFile` (params `{ taskId, path, side: 'base' | 'head' }`); null where the
 * file does not exist on that side. */
export interface TaskFileResult {
  text: string | null;
}
