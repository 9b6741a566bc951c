import type { ImportDeps } from './process.js';
import { processIncomingContentQueue } from './run-queue.js';

/**
 * Queue runs started outside the schedule and not awaited by whoever started them (an admin's
 * "Retry now"). They are kept here so that a graceful stop waits for them before the database closes,
 * as it waits for the cron's run.
 */
export class BackgroundQueueRuns {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly deps: ImportDeps) {}

  /** Starts a queue run now; its outcome goes to the log. */
  start(reason: string): void {
    const { log } = this.deps;
    const run = processIncomingContentQueue(this.deps).then(
      (summary) => log.info('queue run finished', { reason, ...summary }),
      (err: unknown) => log.error('queue run failed', { reason, error: err }),
    );
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  /** Resolves when every run started so far has finished. */
  async settle(): Promise<void> {
    await Promise.all([...this.running]);
  }
}
