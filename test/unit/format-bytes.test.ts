import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/format-bytes.js';

describe('formatBytes', () => {
  it('reads as people read sizes: bytes below 1 KB, then binary multiples with one decimal at most', () => {
    expect([0, 1, 1023, 1024, 1536, 12.3 * 1024 ** 2, 40 * 1024 ** 2, 3 * 1024 ** 4, 5000 * 1024 ** 4].map(formatBytes)).toEqual([
      '0 bytes',
      '1 byte',
      '1023 bytes',
      '1 KB',
      '1.5 KB',
      '12.3 MB',
      '40 MB',
      '3 TB',
      '5000 TB',
    ]);
  });
});
