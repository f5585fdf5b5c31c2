// The Baton extension: starts the `baton` language server through vscode-languageclient (which
// brings inline completion, code actions, commands, progress and applyEdit), drives a status
// bar item from `baton/status` and `baton/tasks`, and adds commands for tasks and pull requests.
import * as readline from 'node:readline';

import * as vscode from 'vscode';
import {
  ClientCapabilities,
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  FeatureState,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  StaticFeature,
  TransportKind,
} from 'vscode-languageclient/node';

import { AGENTS, AgentReport, CMD, EXPERIMENTAL_CAPABILITIES, HEALTH, HealthResult, STATUS, StatusParams, TASKS, TaskAction, TaskSummary, TasksParams } from './protocol';
import { LogLevel, serverLogLine } from './logs';
import { NextEdits } from './nes';
import { openCompletionsPanel } from './panel';
import { PR_SCHEME, PullRequestFiles, TASK_SCHEME, TaskDocuments, reviewPullRequest, taskUri } from './review';
import { resolveServerPath } from './serverPath';
import { PackageJson, serverSettingKeys, serverSettings } from './settings';
import { FINISHED_STATES, actionFor, presentAction, resultMessage, statusText, statusTooltip, taskDescription, taskDetailsText } from './tasks';

/** Declares `experimental.baton.status` and `experimental.baton.tasks` in `initialize`. */
class BatonCapabilities implements StaticFeature {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    const declared = (capabilities.experimental ?? {}) as Record<string, unknown>;
    capabilities.experimental = { ...declared, ...EXPERIMENTAL_CAPABILITIES };
  }
  initialize(): void {}
  getState(): FeatureState {
    return { kind: 'static' };
  }
  clear(): void {}
}

/** Instructions offered for a model edit; anything typed instead is the instruction. */
const EDIT_PRESETS = ['Fix bugs', 'Simplify', 'Add comments', 'Add error handling', 'Write a unit test', 'Document'];

/**
 * Asks how to edit the selection: an input that takes focus (so typing never replaces the
 * selected code) and accepts free text, with the presets as picks. Undefined when cancelled.
 */
function askInstruction(): Promise<string | undefined> {
  const input = vscode.window.createQuickPick();
  input.title = 'Baton: edit selection';
  input.placeholder = 'How should the model change the selected code? Type an instruction or pick one';
  input.ignoreFocusOut = true;
  const presets: vscode.QuickPickItem[] = EDIT_PRESETS.map((label) => ({ label }));
  input.items = presets;
  input.onDidChangeValue((v) => {
    input.items = v.trim() ? [{ label: v, description: 'your instruction', alwaysShow: true }, ...presets] : presets;
  });
  return new Promise((resolve) => {
    input.onDidAccept(() => {
      const picked = (input.selectedItems[0]?.label ?? input.value).trim();
      resolve(picked || undefined);
      input.hide();
    });
    input.onDidHide(() => {
      resolve(undefined);
      input.dispose();
    });
    input.show();
  });
}

/**
 * Opens the `baton.serverPath` setting where it applies: it is machine-overridable, so in a
 * remote window (code-server, SSH, WSL, containers) the Remote settings of the machine the
 * server runs on, else the user settings.
 */
async function openServerPathSetting(): Promise<void> {
  if (vscode.env.remoteName || vscode.env.uiKind === vscode.UIKind.Web) {
    try {
      // Takes an options object (a plain string is ignored), unlike openSettings.
      await vscode.commands.executeCommand('workbench.action.openRemoteSettings', { query: 'baton.serverPath' });
      return;
    } catch {
      // No remote: the user settings below.
    }
  }
  await vscode.commands.executeCommand('workbench.action.openSettings', 'baton.serverPath');
}

class Baton {
  private client: LanguageClient | undefined;
  private status: StatusParams | undefined;
  private tasks: TasksParams | undefined;
  private notRunning: string | undefined;
  private readonly item: vscode.StatusBarItem;
  private readonly output: vscode.LogOutputChannel;
  private readonly trace: vscode.LogOutputChannel;
  private readonly settingKeys: string[];
  private readonly taskDocuments: TaskDocuments;
  readonly nextEdits: NextEdits;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('Baton', { log: true });
    this.trace = vscode.window.createOutputChannel('Baton LSP Trace', { log: true });
    this.item = vscode.window.createStatusBarItem('baton.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Baton';
    this.settingKeys = serverSettingKeys(context.extension.packageJSON as PackageJson);
    this.nextEdits = new NextEdits(() => this.client);
    this.taskDocuments = new TaskDocuments(async (id) => taskDetailsText(await this.command(CMD.taskShow, { id })));
    context.subscriptions.push(
      this.output,
      this.trace,
      this.item,
      this.taskDocuments,
      this.nextEdits,
      vscode.workspace.registerTextDocumentContentProvider(TASK_SCHEME, this.taskDocuments),
      vscode.workspace.registerTextDocumentContentProvider(PR_SCHEME, new PullRequestFiles((method, params) => this.request(method, params))),
    );
    this.render();
    this.item.show();
  }

  /** The server settings the user set explicitly, nested as the server reads them. */
  private currentSettings(): Record<string, unknown> {
    const config = vscode.workspace.getConfiguration('baton');
    return serverSettings(this.settingKeys, (k) => config.inspect(k));
  }

  async start(): Promise<void> {
    const setting = vscode.workspace.getConfiguration('baton').get<string>('serverPath', 'baton');
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const resolved = resolveServerPath(setting, process.env, folder);
    if (!resolved.ok) {
      this.notRunning = resolved.message;
      this.render();
      this.output.appendLine(resolved.message);
      void vscode.window.showErrorMessage(resolved.message, 'Open Settings', 'Show Logs').then((pick) => {
        if (pick === 'Open Settings') void openServerPathSetting();
        if (pick === 'Show Logs') this.output.show();
      });
      return;
    }
    this.output.appendLine(`Starting ${resolved.path}`);
    const serverOptions: ServerOptions = { command: resolved.path, args: [], transport: TransportKind.stdio };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.output,
      traceOutputChannel: this.trace,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      // The server logs with tracing on stderr: each line at its own level, not all as errors.
      stdioOptions: {
        stdout: (input, channel) => readline.createInterface({ input, crlfDelay: Infinity }).on('line', (l) => channel.info(l)),
        stderr: (input, channel) => {
          let previous: LogLevel = 'info';
          readline.createInterface({ input, crlfDelay: Infinity }).on('line', (line) => {
            const { level, text } = serverLogLine(line, previous);
            previous = level;
            channel[level](text);
          });
        },
      },
      initializationOptions: () => this.currentSettings(),
      initializationFailedHandler: (error) => {
        this.notRunning = `Baton: the server failed to initialize: ${error instanceof Error ? error.message : String(error)}`;
        void vscode.window.showErrorMessage(this.notRunning, 'Show Logs').then((p) => p && this.output.show());
        this.render();
        return false;
      },
      middleware: {
        // Commands picked from code actions (and from inline suggestions) run through here:
        // show the server's refusals and results instead of leaving them in the log.
        executeCommand: async (command, args, next) => {
          try {
            // Review opens VS Code's diff editor, not the server's `.diff` file.
            if (command === CMD.prReview) {
              const id = (args?.[0] as { id?: number } | undefined)?.id;
              if (typeof id === 'number') return await this.review(id);
            }
            // "Edit selection with instruction…": ask here, in an input box, rather than let
            // the server offer presets in a message that leaves the focus in the editor.
            const editArg = args?.[0] as { instruction?: string } | undefined;
            if (command === CMD.edit && editArg && !editArg.instruction?.trim()) {
              const instruction = await askInstruction();
              if (!instruction) return undefined;
              args = [{ ...editArg, instruction }, ...(args.slice(1) as unknown[])];
            }
            const result: unknown = await next(command, args);
            this.showResult(command, args?.[0], result);
            return result;
          } catch (e) {
            void vscode.window.showErrorMessage(`Baton: ${errorMessage(e)}`);
            return undefined;
          }
        },
      },
    };
    const client = new LanguageClient('baton', 'Baton', serverOptions, clientOptions);
    client.registerFeature(new BatonCapabilities());
    client.onNotification(STATUS, (params: StatusParams) => {
      this.status = params;
      this.render();
    });
    client.onNotification(TASKS, (params: TasksParams) => {
      this.tasks = params;
      this.render();
      this.taskDocuments.refresh();
    });
    client.onDidChangeState((e) => {
      if (e.newState === State.Stopped) {
        this.status = undefined;
        this.notRunning ??= 'Baton: the server stopped. Run "Baton: Restart Server" or see "Baton: Show Logs".';
      } else {
        this.notRunning = undefined;
      }
      this.render();
    });
    this.client = client;
    this.notRunning = undefined;
    this.render();
    try {
      await client.start();
    } catch (e) {
      this.notRunning = `Baton: could not start ${resolved.path}: ${errorMessage(e)}`;
      this.output.appendLine(this.notRunning);
      void vscode.window.showErrorMessage(this.notRunning, 'Show Logs').then((p) => p && this.output.show());
      this.render();
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.status = undefined;
    this.tasks = undefined;
    if (client && client.state !== State.Stopped) await client.stop().catch(() => undefined);
  }

  async restart(): Promise<void> {
    await this.stop();
    this.notRunning = undefined;
    await this.start();
  }

  /**
   * Sends the explicit settings with `workspace/didChangeConfiguration` (under `baton`). The
   * server replaces its whole editor layer with each message, so a removed setting falls back
   * to baton.toml and the defaults.
   */
  configurationChanged(e: vscode.ConfigurationChangeEvent): void {
    if (e.affectsConfiguration('baton.serverPath')) {
      void this.restart();
      return;
    }
    if (!e.affectsConfiguration('baton') || !this.client || this.client.state !== State.Running) return;
    void this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: { baton: this.currentSettings() } });
  }

  private render(): void {
    if (this.notRunning) {
      this.item.text = '$(error) Baton: not running';
      this.item.tooltip = `${this.notRunning}\nClick to restart the server`;
      this.item.command = 'baton.restartServer';
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
      return;
    }
    this.item.text = statusText(this.status, this.tasks);
    this.item.tooltip = statusTooltip(this.status, this.tasks);
    this.item.command = 'baton.listTasks';
    const warn = this.status?.state === 'unreachable' || this.status?.state === 'error' || this.status?.state === 'slow';
    this.item.backgroundColor = warn ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
  }

  private running(): LanguageClient {
    if (!this.client || this.client.state !== State.Running) {
      throw new Error(this.notRunning ?? 'the Baton server is not running (run "Baton: Restart Server")');
    }
    return this.client;
  }

  /** Sends a request to the running server. */
  async request<R>(method: string, params: object): Promise<R> {
    return this.running().sendRequest<R>(method, params);
  }

  /** Reviews task `id`'s pull request in the diff editor. */
  async review(id: number): Promise<void> {
    const task = this.tasks?.tasks.find((t) => t.id === id);
    await reviewPullRequest((method, params) => this.request(method, params), id, task?.title ?? `task #${id}`);
  }

  /** Runs a server command with one object argument; errors come back as readable messages. */
  async command<T = unknown>(command: string, arg?: object): Promise<T> {
    const client = this.running();
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: arg === undefined ? [] : [arg] })) as T;
  }

  private showResult(command: string, arg: unknown, result: unknown): void {
    const id = (arg as { id?: number } | undefined)?.id;
    if (id === undefined) return;
    const message = resultMessage(command, id, result);
    if (message) void vscode.window.showInformationMessage(message);
  }

  /** Opens task `id`'s details: a read-only virtual document (it follows the task), never a
   * dirty untitled one. */
  async showTask(id: number): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(taskUri(id));
    await vscode.window.showTextDocument(doc, { preview: true });
  }

  /** Runs a task action the server offered (from a picker or a command), asking for feedback
   * or confirmation where it needs them. */
  async runAction(task: TaskSummary, action: TaskAction): Promise<void> {
    const how = presentAction(action);
    let arg: { id: number; feedback?: string } = { id: task.id };
    if (how.feedback) {
      const feedback = await vscode.window.showInputBox({
        title: `Baton: request changes on PR #${task.id}`,
        prompt: `What should the agent change in “${task.title}”?`,
        placeHolder: 'e.g. Add a test for the empty input',
        ignoreFocusOut: true,
      });
      if (!feedback?.trim()) return;
      arg = { id: task.id, feedback };
    }
    if (how.confirm) {
      const verb = action.title.split(' ')[0] || 'Run';
      const ok = await vscode.window.showWarningMessage(`${verb} Baton task #${task.id} “${task.title}”?`, { modal: true }, verb);
      if (ok !== verb) return;
    }
    if (action.command === CMD.taskShow) {
      await this.showTask(task.id);
      return;
    }
    if (action.command === CMD.prReview) {
      await this.review(task.id);
      return;
    }
    const result = await this.command(action.command, arg);
    this.showResult(action.command, arg, result);
  }

  /**
   * The tasks to pick from, newest first: the open tasks of this workspace's repository, as the
   * last `baton/tasks` listed them (the status bar counts the same ones). Before any arrived,
   * every task `baton.task.list` knows: open ones, then the latest finished ones.
   */
  async listTasks(): Promise<TaskSummary[]> {
    this.running();
    if (this.tasks) return [...this.tasks.tasks].reverse();
    const all = await this.command<TaskSummary[]>(CMD.taskList);
    const open = all.filter((t) => !FINISHED_STATES.includes(t.state)).reverse();
    const done = all.filter((t) => FINISHED_STATES.includes(t.state)).reverse().slice(0, 20);
    return [...open, ...done];
  }

  /** Picks a task; `command` limits the choice to tasks whose actions (as the server sent them)
   * include it. Undefined when cancelled or none fits. */
  async pickTask(title: string, command?: string, empty = 'Baton: no task fits.'): Promise<TaskSummary | undefined> {
    const tasks = (await this.listTasks()).filter((t) => !command || actionFor(t, command));
    if (tasks.length === 0) {
      void vscode.window.showInformationMessage(empty);
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      tasks.map((t) => ({ label: `#${t.id} ${t.title}`, description: taskDescription(t), detail: t.message, task: t })),
      { title, matchOnDescription: true, matchOnDetail: true },
    );
    return picked?.task;
  }

  /** The status bar's menu: open tasks with their actions, and the extension's own actions. */
  async showTasks(): Promise<void> {
    type Item = vscode.QuickPickItem & { task?: TaskSummary; run?: () => unknown };
    const tasks = await this.listTasks();
    const items: Item[] = [];
    for (const t of tasks) {
      if (FINISHED_STATES.includes(t.state) && !items.some((i) => i.kind === vscode.QuickPickItemKind.Separator)) {
        items.push({ label: 'finished', kind: vscode.QuickPickItemKind.Separator });
      }
      items.push({ label: `#${t.id} ${t.title}`, description: taskDescription(t), detail: t.message, task: t });
    }
    items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
    items.push({ label: '$(sparkle) Delegate a task…', run: () => vscode.commands.executeCommand('baton.delegateTask') });
    items.push({ label: '$(pulse) Show health', run: () => vscode.commands.executeCommand('baton.showHealth') });
    items.push({ label: '$(output) Show logs', run: () => this.output.show() });
    const picked = await vscode.window.showQuickPick(items, {
      title: tasks.length ? 'Baton tasks' : 'Baton: no tasks yet',
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (!picked) return;
    if (picked.run) {
      await picked.run();
      return;
    }
    if (picked.task) await this.pickAction(picked.task);
  }

  async pickAction(task: TaskSummary): Promise<void> {
    const actions = task.actions ?? [];
    const picked = await vscode.window.showQuickPick(
      actions.map((a) => ({ label: presentAction(a).label, action: a })),
      { title: `Baton task #${task.id}: ${task.title} (${task.state.replace(/_/g, ' ')})` },
    );
    if (picked) await this.runAction(task, picked.action);
  }

  /** A task by `{id}` (or a number) when a caller gives one; otherwise a picker. */
  async taskArg(arg: unknown, title: string, command: string | undefined, empty: string): Promise<TaskSummary | undefined> {
    const id = typeof arg === 'number' ? arg : (arg as { id?: number } | undefined)?.id;
    if (typeof id === 'number') {
      const found = (await this.command<TaskSummary[]>(CMD.taskList)).find((t) => t.id === id);
      if (!found) throw new Error(`there is no task #${id}`);
      return found;
    }
    return this.pickTask(title, command, empty);
  }

  /** Lists the agents (`baton/agents`: presets and profiles, with what is installed and ready),
   * then delegates to the one picked. */
  async delegateTo(): Promise<void> {
    const client = this.running();
    const agents = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Baton: looking for the installed agents…' },
      () => client.sendRequest<AgentReport[]>(AGENTS),
    );
    const pick = await vscode.window.showQuickPick(
      agents.map((a) => ({
        label: a.name,
        description: [a.kind, a.state, a.version].filter(Boolean).join(' · '),
        detail: a.note,
      })),
      { title: 'Baton: delegate to which agent?', placeHolder: 'an agent profile or built-in preset', ignoreFocusOut: true },
    );
    if (pick) await this.delegate(pick.label);
  }

  /** Asks for the task and starts it with `agent` (the default agent when absent). */
  async delegate(agent?: string): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const prompt = await vscode.window.showInputBox({
      title: 'Baton: delegate a task to a background agent',
      prompt: editor && !editor.selection.isEmpty ? 'What should the agent do with the selection?' : 'What should the agent do?',
      placeHolder: 'e.g. Write tests for parse_config',
      ignoreFocusOut: true,
    });
    if (!prompt?.trim()) return;
    const client = this.running();
    const arg: Record<string, unknown> = { prompt };
    if (agent) arg.agent = agent;
    if (editor && editor.document.uri.scheme === 'file') {
      arg.uri = client.code2ProtocolConverter.asUri(editor.document.uri);
      if (!editor.selection.isEmpty) arg.range = client.code2ProtocolConverter.asRange(editor.selection);
    }
    const r = await this.command<{ id: number }>(CMD.taskStart, arg);
    const pick = await vscode.window.showInformationMessage(
      `Baton: task #${r.id} started; its pull request shows up as code actions where it changes your files.`,
      'Show Tasks',
    );
    if (pick) await this.showTasks();
  }

  async editSelection(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) throw new Error('open a file and select the code to edit');
    const instruction = await askInstruction();
    if (!instruction) return;
    const client = this.running();
    const selection = editor.selection.isEmpty ? editor.document.lineAt(editor.selection.active.line).range : editor.selection;
    const arg = {
      uri: client.code2ProtocolConverter.asUri(editor.document.uri),
      range: client.code2ProtocolConverter.asRange(selection),
      instruction,
    };
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Baton: ${instruction}` },
      () => this.command<{ applied?: boolean; reason?: string }>(CMD.edit, arg),
    );
    if (result && result.applied === false && result.reason) void vscode.window.showInformationMessage(`Baton: ${result.reason}`);
  }

  async health(): Promise<void> {
    const h = await this.running().sendRequest<HealthResult>(HEALTH);
    const counters = h.counters ?? {};
    const server =
      h.state === 'slow' ? 'reachable but slow' : h.state === 'unknown' ? 'not checked yet' : h.reachable ? 'reachable' : 'NOT reachable';
    const line =
      `Baton ${h.version}: ${h.provider} ${h.model} at ${h.baseUrl} is ${server}${h.checking ? ' (still checking)' : ''}; ` +
      `${h.documents} open document(s), ${counters.requests ?? 0} suggestion request(s), ${counters.modelCalls ?? 0} model call(s).`;
    this.output.appendLine(`Health: ${JSON.stringify(h, null, 2)}`);
    const show = h.state === 'ok' ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
    const pick = await show(h.message ? `${line} ${h.message}` : line, 'Show Details');
    if (pick) this.output.show();
  }

  showLogs(): void {
    this.output.show();
  }

  async completionPanel(): Promise<void> {
    await openCompletionsPanel(this.running());
  }
}

function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'message' in e) return String(e.message);
  return String(e);
}

let baton: Baton | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const b = new Baton(context);
  baton = b;
  // Each command shows its failure (a server refusal, a missing server) as an error message.
  const register = (name: string, run: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(name, async (...args: unknown[]) => {
        try {
          return await run(...args);
        } catch (e) {
          void vscode.window.showErrorMessage(`Baton: ${errorMessage(e)}`);
          return undefined;
        }
      }),
    );
  const onTask = (name: string, command: string, title: string, empty: string) =>
    register(name, async (arg) => {
      const task = await b.taskArg(arg, title, command, empty);
      const action = task && actionFor(task, command);
      if (task && action) await b.runAction(task, action);
      else if (task) throw new Error(`task #${task.id} is ${task.state.replace(/_/g, ' ')}; that action does not apply`);
    });
  const noPr = 'Baton: no pull request is ready for review.';
  register('baton.delegateTask', () => b.delegate());
  register('baton.delegateTaskTo', () => b.delegateTo());
  register('baton.listTasks', () => b.showTasks());
  register('baton.showTask', async (arg) => {
    const task = await b.taskArg(arg, 'Baton: show which task?', undefined, 'Baton: no tasks yet.');
    if (task) await b.showTask(task.id);
  });
  onTask('baton.reviewPullRequest', CMD.prReview, 'Baton: review which pull request?', noPr);
  onTask('baton.applyPullRequest', CMD.prApply, 'Baton: apply which pull request to the working tree?', noPr);
  onTask('baton.mergePullRequest', CMD.prMerge, 'Baton: merge which pull request?', noPr);
  onTask('baton.requestChanges', CMD.prRequestChanges, 'Baton: request changes on which pull request?', noPr);
  onTask(
    'baton.discardPullRequest',
    CMD.prDiscard,
    'Baton: discard which task?',
    'Baton: there is no task to discard.',
  );
  onTask('baton.approvePlan', CMD.taskApprovePlan, 'Baton: approve which plan?', 'Baton: no plan awaits approval.');
  onTask('baton.resumeTask', CMD.taskResume, 'Baton: resume which task?', 'Baton: no task can be resumed.');
  register('baton.editSelection', () => b.editSelection());
  register('baton.completionPanel', () => b.completionPanel());
  register('baton.showLogs', () => b.showLogs());
  register('baton.restartServer', () => b.restart());
  register('baton.showHealth', () => b.health());
  register('baton.acceptNextEdit', () => b.nextEdits.acceptOrJump());
  register('baton.dismissNextEdit', () => b.nextEdits.dismiss());
  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration((e) => b.configurationChanged(e)));
  await b.start();
}

export async function deactivate(): Promise<void> {
  await baton?.stop();
  baton = undefined;
}
