// What the status bar and the task pickers show, from `baton/status` and `baton/tasks`.
// No `vscode` import: unit-tested under plain Node.
import { CMD, StatusParams, TaskAction, TaskShowResult, TaskSummary, TasksParams } from './protocol';

/** States after which a task needs nothing more from the user (`applied` only in databases of
 * servers from before Apply kept the pull request open). */
export const FINISHED_STATES: readonly string[] = ['merged', 'applied', 'discarded'];

const ICONS: Record<StatusParams['state'], string> = {
  idle: '$(sparkle)',
  working: '$(loading~spin)',
  error: '$(error)',
  slow: '$(watch)',
  unreachable: '$(debug-disconnect)',
};

/** The status bar text: `$(sparkle) Baton: idle · 1 running · 2 to review`. */
export function statusText(status: StatusParams | undefined, tasks: TasksParams | undefined, fallback = 'starting'): string {
  const icon = status ? ICONS[status.state] ?? '$(sparkle)' : '$(sparkle)';
  const parts = [`${icon} Baton: ${status?.state ?? fallback}`];
  if (tasks) {
    const counts: [number, string, string][] = [
      [tasks.queued, 'queued', 'queued'],
      [tasks.running, 'running', 'running'],
      [tasks.awaitingReview, 'to review', 'to review'],
      [tasks.awaitingPlanApproval, 'plan to approve', 'plans to approve'],
      [tasks.failed, 'failed', 'failed'],
      [tasks.interrupted, 'interrupted', 'interrupted'],
    ];
    for (const [n, one, many] of counts) {
      if (n > 0) parts.push(`${n} ${n === 1 ? one : many}`);
    }
  }
  return parts.join(' · ');
}

/** The status bar tooltip: the model, the status message, and one line per open task. */
export function statusTooltip(status: StatusParams | undefined, tasks: TasksParams | undefined): string {
  const lines: string[] = [];
  if (status) {
    lines.push(`Baton: ${status.state} (${status.provider}, ${status.model})`);
    if (status.message) lines.push(status.message);
  } else {
    lines.push('Baton');
  }
  for (const t of tasks?.tasks ?? []) lines.push(`#${t.id} ${t.state}: ${t.title}`);
  lines.push('Click for tasks and their actions');
  return lines.join('\n');
}

/** One line describing a task in a picker: state, agent, diff stat, checks. */
export function taskDescription(t: TaskSummary): string {
  const parts = [t.state.replace(/_/g, ' '), t.agent];
  if (t.diffStat) parts.push(t.diffStat);
  if (t.checks) parts.push(`checks ${t.checks}`);
  return parts.join(' · ');
}

/** An action the server offers, as a picker shows it: its icon, and whether it asks for
 * feedback or a confirmation first (how to present it; which actions apply is the server's). */
export interface ActionPresentation {
  label: string;
  feedback: boolean;
  /** Ask before running (it cannot be undone from the editor). */
  confirm: boolean;
}

const ICON_OF: Record<string, string> = {
  review: '$(diff)',
  apply: '$(check)',
  merge: '$(git-merge)',
  'request-changes': '$(comment)',
  'approve-plan': '$(check)',
  answer: '$(question)',
  resume: '$(debug-restart)',
  show: '$(info)',
  discard: '$(trash)',
};

/** How to present `action` (an id this version does not know still shows, without an icon). */
export function presentAction(action: TaskAction): ActionPresentation {
  const icon = ICON_OF[action.id];
  return {
    label: icon ? `${icon} ${action.title}` : action.title,
    feedback: action.id === 'request-changes',
    confirm: action.id === 'merge' || action.id === 'discard',
  };
}

/** The action of `task` that runs `command`, if its state allows it (the server says). */
export function actionFor(task: TaskSummary, command: string): TaskAction | undefined {
  return task.actions?.find((a) => a.command === command);
}

/** The message shown after a server command on a task succeeded. */
export function resultMessage(command: string, id: number, result: unknown): string | undefined {
  const r = (result ?? {}) as { files?: number; commit?: string; signedOffBy?: string };
  switch (command) {
    case CMD.prApply:
      return `Baton: applied PR #${id} to the working tree (${r.files ?? '?'} file(s)); undo with Edit › Undo. It stays open until you merge or discard it.`;
    case CMD.prMerge:
      return `Baton: merged PR #${id} as ${String(r.commit ?? '').slice(0, 10)}${r.signedOffBy ? `, signed off by ${r.signedOffBy}` : ''}.`;
    case CMD.prDiscard:
      return `Baton: discarded task #${id}.`;
    case CMD.prRequestChanges:
      return `Baton: sent your feedback; task #${id} is queued again.`;
    case CMD.taskApprovePlan:
      return `Baton: approved the plan of task #${id}; the agent starts working.`;
    case CMD.taskResume:
      return `Baton: task #${id} is queued again.`;
    default:
      return undefined;
  }
}

/** The text of a task's read-only document: the server's rendered `details` of `baton.task.show`. */
export function taskDetailsText(shown: unknown): string {
  const details = (shown as Partial<TaskShowResult> | null | undefined)?.details;
  return typeof details === 'string' ? details : 'Baton: the server sent no details for this task.\n';
}
