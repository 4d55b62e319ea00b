// performance.bandwidth_limit: a token bucket shared by every upload of the process, so the limit
// holds for the sum of parallel uploads, primary and secondary together.
import { setTimeout as sleep } from 'node:timers/promises';

export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  /** Waiters are served in arrival order, so one large request cannot starve small ones. */
  private queue: Promise<void> = Promise.resolve();

  /**
   * @param rate bytes per second
   * @param burst bytes that may pass at once after an idle period (default: 1/20 s of traffic,
   *   at least one slice): small, so a measured transfer stays within a few percent of size/rate.
   */
  constructor(
    private rate: number,
    private burst = Math.max(TokenBucket.sliceFor(rate), rate / 20),
  ) {
    this.tokens = this.burst;
  }

  /** Size of the pieces uploads send between token requests: about 50 ms of traffic, 1-64 KiB. */
  static sliceFor(rate: number): number {
    return Math.min(64 * 1024, Math.max(1024, Math.floor(rate / 20)));
  }

  get bytesPerSecond(): number {
    return this.rate;
  }

  get slice(): number {
    return TokenBucket.sliceFor(this.rate);
  }

  /** Changes the rate (a reloaded configuration); waiting requests continue at the new rate. */
  setRate(rate: number): void {
    this.refill();
    this.rate = rate;
    this.burst = Math.max(TokenBucket.sliceFor(rate), rate / 20);
    this.tokens = Math.min(this.tokens, this.burst);
  }

  /** Waits until `bytes` may be sent. Requests larger than the burst go into debt and wait it off. */
  take(bytes: number): Promise<void> {
    const turn = this.queue.then(async () => {
      this.refill();
      this.tokens -= bytes;
      if (this.tokens < 0) await sleep((-this.tokens / this.rate) * 1000);
    });
    this.queue = turn;
    return turn;
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }
}

let processBucket: TokenBucket | undefined;

/** The process-wide upload bucket for `rate` bytes/s (the last configured rate wins). */
export function processUploadBucket(rate: number): TokenBucket {
  if (!processBucket) processBucket = new TokenBucket(rate);
  else if (processBucket.bytesPerSecond !== rate) processBucket.setRate(rate);
  return processBucket;
}
