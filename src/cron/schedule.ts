import cron from 'node-cron';
import type { Logger } from '../log.js';

/** A scheduled job's name as Mahara knows it and as the design note names it (portfolio-import.md §2.4). */
export const QUEUE_JOB_NAMES = ['import_process_queue', 'process_incoming_content_queue'] as const;

export interface ScheduledJobs {
  stop(): Promise<void>;
}

/**
 * node-cron runs the incoming-content queue on `expression` (every five minutes by default). One job
 * under the design name; Mahara's name is its alias in logs. `noOverlap` is the job-level lock of one
 * process; across instances the queue's SKIP LOCKED claims keep runs apart. Nothing else lives here.
 */
export function scheduleQueueRun(expression: string, run: () => Promise<unknown>, log: Logger): ScheduledJobs {
  if (expression === '') return { stop: async () => {} };
  const task = cron.schedule(
    expression,
    async () => {
      try {
        const summary = await run();
        log.debug('incoming content queue run finished', { job: QUEUE_JOB_NAMES[1], alias: QUEUE_JOB_NAMES[0], summary });
      } catch (err) {
        log.error('incoming content queue run failed', { job: QUEUE_JOB_NAMES[1], error: err });
      }
    },
    { name: QUEUE_JOB_NAMES[1], noOverlap: true },
  );
  log.info('scheduled the incoming content queue', { schedule: expression });
  let running: Promise<unknown> = Promise.resolve();
  task.on('execution:started', () => {
    running = new Promise<void>((resolve) => task.once('execution:finished', () => resolve()));
  });
  return {
    stop: async () => {
      await task.stop();
      await task.destroy();
      await running;
    },
  };
}
