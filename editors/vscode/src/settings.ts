// Turning VS Code's `baton.*` settings into the settings object the server reads. Kept free of
// the `vscode` module so the unit tests can run it under plain Node.

/** Settings the extension reads itself; everything else under `baton.` goes to the server. */
export const CLIENT_SETTINGS: readonly string[] = ['serverPath', 'trace.server'];

/** The part of the extension's package.json that names its settings. */
export interface PackageJson {
  contributes?: { configuration?: { properties?: Record<string, unknown> } };
}

/** The server's setting keys (`provider.base_url`, `agents`, ...) among the contributed ones. */
export function serverSettingKeys(packageJson: PackageJson): string[] {
  const props = packageJson.contributes?.configuration?.properties ?? {};
  return Object.keys(props)
    .filter((k) => k.startsWith('baton.'))
    .map((k) => k.slice('baton.'.length))
    .filter((k) => !CLIENT_SETTINGS.includes(k));
}

/** What `WorkspaceConfiguration.inspect` returns, as far as it matters here. */
export interface Inspected {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/**
 * The value the user set explicitly (folder over workspace over user settings), or undefined
 * when only the default applies. Defaults are not sent: the server has the same ones, and
 * sending them would hide the project's baton.toml and the user's config.toml, which the
 * editor's layer overrides key by key.
 */
export function explicitValue(i: Inspected | undefined): unknown {
  if (!i) return undefined;
  return i.workspaceFolderValue ?? i.workspaceValue ?? i.globalValue;
}

/** Dotted keys to the nested object the server expects: `{"provider.model": "m"}` → `{provider: {model: "m"}}`. */
export function nest(flat: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    if (value === undefined) continue;
    const parts = key.split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) {
      const next = node[p];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[p] = {};
      node = node[p] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = value;
  }
  return out;
}

/** The server settings object from a lookup of each key's inspected value. */
export function serverSettings(keys: string[], inspect: (key: string) => Inspected | undefined): Record<string, unknown> {
  const flat: Record<string, unknown> = {};
  for (const k of keys) flat[k] = explicitValue(inspect(k));
  return nest(flat);
}

