// What the daemon still has to run while a backup is in progress. A trigger that fires again
// before its pending run started is merged into it (coalesced), so the queue never holds more
// than one entry per trigger however often triggers fire during a long upload.
import { mergeRequests, type RunOrigin, type RunRequest } from './triggers.ts';

export class RunQueue {
  private readonly pending = new Map<RunOrigin, RunRequest>();

  /** 'queued' for a new entry, 'coalesced' when merged into the trigger's pending one. */
  add(request: RunRequest): 'queued' | 'coalesced' {
    const existing = this.pending.get(request.trigger);
    if (existing) {
      this.pending.set(request.trigger, mergeRequests(existing, request));
      return 'coalesced';
    }
    this.pending.set(request.trigger, request);
    return 'queued';
  }

  /**
   * The next run: the oldest pending request, together with every other pending request of the
   * configured include set when it is one (a single backup serves them all).
   */
  take(): RunRequest[] | undefined {
    const first = this.pending.values().next();
    if (first.done) return undefined;
    const batch = [first.value];
    this.pending.delete(first.value.trigger);
    if (first.value.scope.kind === 'configured') {
      for (const [trigger, request] of this.pending) {
        if (request.scope.kind !== 'configured') continue;
        batch.push(request);
        this.pending.delete(trigger);
      }
    }
    return batch;
  }

  get size(): number {
    return this.pending.size;
  }

  clear(): void {
    this.pending.clear();
  }
}
