const UNITS = ['KB', 'MB', 'GB', 'TB'];

/**
 * A size as people read it, in binary multiples: 1023 → "1023 bytes", 1536 → "1.5 KB",
 * 12.3 MiB → "12.3 MB", 40 MiB → "40 MB". One format for pages, event logs and the CLI.
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return bytes === 1 ? '1 byte' : `${bytes} bytes`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1).replace(/\.0$/, '')} ${UNITS[unit]}`;
}
