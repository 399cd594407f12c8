/**
 * `text` as one word a POSIX shell (bash, zsh) reads back unchanged: bare when it is plain,
 * single-quoted when it holds no control characters, else in $'…' with escapes, as the
 * commands' own examples write `--stop $'\n\n'`.
 */
export function shellWord(text: string): string {
  if (/^[\w./:=,+-]+$/.test(text)) return text;
  if (!/[\n\r\t]/.test(text)) return `'${text.replace(/'/g, `'\\''`)}'`;
  const escaped = text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
  return `$'${escaped}'`;
}
