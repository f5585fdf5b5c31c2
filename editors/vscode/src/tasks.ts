// What the status bar and the task pickers show, from `baton/status` and `baton/tasks`.
// No `vscode` import: unit-tested under plain Node.
import { CMD, StatusParams, TaskSummary, TasksParams } from './protocol';

/** States after which a task needs nothing more from the user (`applied` only in databases of
 * servers from before Apply kept the pull request open). */
export const FINISHED_STATES: readonly string[] = ['merged', 'applied', 'discarded'];
/** States in which an agent is (or will be) working on the task. */
export const WORKING_STATES: readonly string[] = ['queued', 'preparing', 'running', 'checking'];

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

/** An action on a task: the server command it runs, and whether it asks for feedback first. */
export interface TaskAction {
  label: string;
  command: string;
  feedback?: boolean;
  /** Ask before running (it cannot be undone from the editor). */
  confirm?: boolean;
}

const SHOW: TaskAction = { label: '$(info) Show', command: CMD.taskShow };
const DISCARD: TaskAction = { label: '$(trash) Discard', command: CMD.prDiscard, confirm: true };

/** The actions that make sense for a task in its current state, most useful first. */
export function taskActions(t: TaskSummary): TaskAction[] {
  switch (t.state) {
    case 'ready':
      return [
        { label: '$(diff) Review', command: CMD.prReview },
        { label: '$(check) Apply to working tree', command: CMD.prApply },
        { label: '$(git-merge) Merge into the current branch', command: CMD.prMerge, confirm: true },
        { label: '$(comment) Request changes…', command: CMD.prRequestChanges, feedback: true },
        DISCARD,
        SHOW,
      ];
    case 'awaiting_plan_approval':
      return [{ label: '$(check) Approve plan', command: CMD.taskApprovePlan }, SHOW, DISCARD];
    case 'failed':
    case 'interrupted':
      return [{ label: '$(debug-restart) Resume', command: CMD.taskResume }, SHOW, DISCARD];
    default:
      return FINISHED_STATES.includes(t.state) ? [SHOW] : [SHOW, DISCARD];
  }
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

/** `baton.task.show`'s result, as far as the details document shows it (fields may be missing). */
interface TaskDetails {
  task?: {
    id?: number;
    prompt?: string;
    state?: string;
    agent?: string;
    branch?: string | null;
    worktree?: string | null;
    error?: string | null;
    summary?: string | null;
    plan?: string | null;
  };
  log?: { time_ms: number; line: string }[];
  pull_request?: {
    title?: string;
    stat?: { files_changed?: number; insertions?: number; deletions?: number };
    check?: string;
    check_command?: string | null;
    files?: { path: string }[];
    description?: string | null;
  } | null;
  signoffs?: { who: string; when_ms: number; action: string; head_commit: string }[];
}

/** `baton.task.show`'s result as Markdown for a read-only document. */
export function taskDetailsMarkdown(details: unknown): string {
  const d = (details ?? {}) as TaskDetails;
  const t = d.task ?? {};
  const out: string[] = [];
  const title = String(t.prompt ?? '').split('\n').find((l) => l.trim()) ?? '';
  out.push(`# Baton task #${t.id}: ${title}`, '');
  out.push(`- State: ${t.state}`, `- Agent: ${t.agent}`);
  if (t.branch) out.push(`- Branch: ${t.branch}`);
  if (t.worktree) out.push(`- Worktree: ${t.worktree}`);
  if (t.error) out.push(`- Error: ${t.error}`);
  if (t.summary) out.push('', '## Summary', '', String(t.summary));
  if (t.plan) out.push('', '## Plan', '', String(t.plan));
  const pr = d.pull_request;
  if (pr) {
    const stat = pr.stat ?? {};
    out.push('', `## Pull request: ${pr.title}`, '');
    out.push(`- ${stat.files_changed ?? 0} file(s), +${stat.insertions ?? 0} -${stat.deletions ?? 0}`);
    out.push(`- Checks: ${pr.check}${pr.check_command ? ` (\`${pr.check_command}\`)` : ''}`);
    for (const f of pr.files ?? []) out.push(`- ${f.path}`);
    if (pr.description) out.push('', String(pr.description));
  }
  for (const s of d.signoffs ?? []) out.push('', `Signed off (${s.action}) by ${s.who} at ${new Date(s.when_ms).toISOString()}`);
  out.push('', '## Prompt', '', '```', String(t.prompt ?? ''), '```');
  if (d.log?.length) {
    out.push('', '## Log', '', '```');
    for (const l of d.log) out.push(`${new Date(l.time_ms).toISOString()} ${l.line}`);
    out.push('```');
  }
  return out.join('\n') + '\n';
}
