// The server's stderr (tracing's default format, `server/main.rs`) as leveled log lines, so the
// Baton output channel labels each line with its level instead of `[error]` for all of stderr.
// No `vscode` import: unit-tested under plain Node.

/** A `LogOutputChannel` method. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<string, LogLevel> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };
/** `2026-12-05T04:09:00.123456Z  INFO baton::server: message`: the timestamp, the level, the rest. */
const TRACING_LINE = /^\d{4}-\d\d-\d\dT\S+\s+(TRACE|DEBUG|INFO|WARN|ERROR)\s+(.*)$/;

/**
 * One stderr line as a level and the text to log (without tracing's timestamp: the channel
 * adds its own). A line in another shape (a message's continuation) keeps the level of the line
 * before it (`previous`); a Rust panic is an error.
 */
export function serverLogLine(line: string, previous: LogLevel = 'info'): { level: LogLevel; text: string } {
  const m = TRACING_LINE.exec(line);
  if (m) return { level: LEVELS[m[1]] ?? previous, text: m[2] };
  if (/^thread '.*' panicked at /.test(line)) return { level: 'error', text: line };
  return { level: previous, text: line };
}
