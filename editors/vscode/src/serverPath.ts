// Finding the `baton` binary the way a shell would, with a message that says what to do when
// it is missing. No `vscode` import: unit-tested under plain Node.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type Resolved = { ok: true; path: string } | { ok: false; message: string };

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * Resolves the `baton.serverPath` setting: a path (absolute, `~/...`, or relative to the first
 * workspace folder) is used as is; a bare name is looked up on PATH and then in ~/.cargo/bin,
 * where `cargo install` puts it (editors started from a desktop often lack it on PATH).
 */
export function resolveServerPath(
  setting: string,
  env: NodeJS.ProcessEnv = process.env,
  workspaceFolder?: string,
  home: string = os.homedir(),
): Resolved {
  const value = (setting || 'baton').trim();
  const install =
    'Build and install it with `cargo install --path .` in the Baton repository (it goes to ~/.cargo/bin), ' +
    'or set `baton.serverPath` to the full path of the binary (for example target/debug/baton after `cargo build`).';
  if (value.includes('/') || value.includes(path.sep) || value.startsWith('~')) {
    let p = value.startsWith('~') ? path.join(home, value.slice(1)) : value;
    if (!path.isAbsolute(p) && workspaceFolder) p = path.join(workspaceFolder, p);
    if (isExecutable(p)) return { ok: true, path: p };
    return { ok: false, message: `Baton: the language server was not found at ${p} (setting baton.serverPath). ${install}` };
  }
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  dirs.push(path.join(home, '.cargo', 'bin'));
  for (const d of dirs) {
    const p = path.join(d, value);
    if (isExecutable(p)) return { ok: true, path: p };
  }
  return {
    ok: false,
    message: `Baton: the language server \`${value}\` was not found on PATH or in ~/.cargo/bin. ${install}`,
  };
}
