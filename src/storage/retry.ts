// Retries with exponential backoff and jitter for one storage request. Only failures the
// classification marks retryable (5xx, throttling, timeouts, resets, refused connections) are
// retried; authentication, missing objects and other 4xx answers fail on the first attempt.
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageRequestError } from './errors.ts';

export interface RetryPolicy {
  /** Retries after the first attempt (performance.retry_attempts): at most 1 + retries tries. */
  retries: number;
  /** First backoff; each further retry doubles it, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 5, baseDelayMs: 250, maxDelayMs: 20_000 };

export interface RetryNotice {
  operation: string;
  key: string | undefined;
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  error: StorageRequestError;
}

export type RetryListener = (notice: RetryNotice) => void;

export class Retrier {
  constructor(
    readonly policy: RetryPolicy,
    private readonly listener?: RetryListener,
  ) {}

  /** Backoff before retry n (1-based): half fixed, half random, so clients that failed together spread out. */
  delayFor(retry: number): number {
    const ceiling = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (retry - 1));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  /**
   * Runs `attempt` until it succeeds, fails with a non-retryable error or the retries are used up.
   * `translate` turns what the SDK threw into a StorageRequestError.
   */
  async run<T>(operation: string, key: string | undefined, attempt: () => Promise<T>, translate: (err: unknown) => StorageRequestError): Promise<T> {
    for (let retry = 0; ; retry++) {
      try {
        return await attempt();
      } catch (raw) {
        const error = raw instanceof StorageRequestError ? raw : translate(raw);
        if (!error.retryable || retry >= this.policy.retries) {
          error.details.attempts = retry + 1;
          throw error;
        }
        const delayMs = this.delayFor(retry + 1);
        this.listener?.({ operation, key, retry: retry + 1, delayMs, error });
        await sleep(delayMs);
      }
    }
  }
}
