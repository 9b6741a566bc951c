import type { Logger } from '../log.js';
import type { ImportTrace } from './plugin.js';

/**
 * The import trace of §6.10 on our structured log: level 0 keeps only warnings (they are also counted for
 * the audit), 1 adds the phases and chosen strategies, 2 every strategy offered.
 */
export function createImportTrace(log: Logger, level: number, context: Record<string, unknown>): ImportTrace {
  const warnings: string[] = [];
  return {
    info: (message) => {
      if (level >= 1) log.info(`import: ${message}`, context);
    },
    verbose: (message) => {
      if (level >= 2) log.info(`import: ${message}`, context);
    },
    warn: (message) => {
      warnings.push(message);
      log.warn(`import: ${message}`, context);
    },
    warnings,
  };
}
