// What the completions panel lists for the server's suggestions. No `vscode` import:
// unit-tested under plain Node.
import { PanelItem } from './protocol';

/** How many lines of a suggestion the row's detail previews. */
const PREVIEW_LINES = 6;

/** A quick pick row for a suggestion: its first non-blank line as the label, which one of how
 * many (and its line count) as the description, the lines after the label's, joined with `⏎`, as
 * the detail. */
export interface PanelRow {
  label: string;
  description: string;
  detail?: string;
  /** Index into the server's items. */
  index: number;
}

/** The rows for `items`, in the server's order (the usual suggestion first). */
export function panelRows(items: readonly PanelItem[]): PanelRow[] {
  return items.map((item, index) => {
    const lines = item.insertText.split(/\r?\n/);
    const first = Math.max(0, lines.findIndex((l) => l.trim() !== ''));
    const label = lines[first]?.trim() ?? '';
    const count = lines.length > 1 ? ` · ${lines.length} lines` : '';
    const rest = lines.slice(first + 1, first + 1 + PREVIEW_LINES).map((l) => l.trim());
    const more = lines.length > first + 1 + PREVIEW_LINES ? ' ⏎ …' : '';
    return {
      label: label || '(whitespace only)',
      description: `Suggestion ${index + 1}/${items.length}${count}`,
      detail: rest.some((l) => l !== '') ? rest.join(' ⏎ ') + more : undefined,
      index,
    };
  });
}
