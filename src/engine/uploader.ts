// Bounded background uploads: `upload()` waits for a free slot (backpressure: whoever produces
// packs slows down when storage is slow, so memory stays bounded), starts the put and returns;
// `drain()` waits for everything in flight and rethrows the first failure.
import type { PutBody, Storage } from '../storage/storage.ts';
import { Semaphore } from './concurrency.ts';

export class Uploader {
  private readonly slots: Semaphore;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: Error | undefined;
  bytesUploaded = 0;
  objectsUploaded = 0;

  constructor(
    private readonly storage: Storage,
    concurrency: number,
  ) {
    this.slots = new Semaphore(concurrency);
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  /** Starts uploading once a slot is free; `onDone` runs after the object is stored. */
  upload(key: string, body: PutBody, size: number, onDone?: () => void | Promise<void>): Promise<void> {
    return this.run(() => this.storage.put(key, body), size, onDone);
  }

  /** Like upload(), for objects that publish themselves (a spooled pack). */
  async run(store: () => Promise<unknown>, size: number, onDone?: () => void | Promise<void>): Promise<void> {
    this.check();
    await this.slots.acquire();
    if (this.failure) {
      this.slots.release();
      throw this.failure;
    }
    const task = (async () => {
      try {
        await store();
        this.bytesUploaded += size;
        this.objectsUploaded += 1;
        await onDone?.();
      } catch (err) {
        this.failure ??= err as Error;
      } finally {
        this.slots.release();
      }
    })();
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  async drain(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
    this.check();
  }
}
