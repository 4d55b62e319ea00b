// A set of 32-byte ids: open addressing with linear probing over one flat Uint32Array
// (8 words per slot), so a million ids cost ~43 MB instead of a Map of hex strings.
import { CoreError } from '../errors.ts';
import type { BlobSet } from '../types.ts';

const ID_BYTES = 32;
const WORDS = 8;
const INITIAL_CAPACITY = 1024;
/** Grow when more than 3/4 of the slots are used. */
const MAX_LOAD_NUM = 3;
const MAX_LOAD_DEN = 4;

export class PortableBlobSet implements BlobSet {
  private capacity = INITIAL_CAPACITY;
  private slots = new Uint32Array(INITIAL_CAPACITY * WORDS);
  private used = new Uint8Array(INITIAL_CAPACITY);
  private count = 0;
  /** The id being looked up, as words (avoids an allocation per call). */
  private readonly key = new Uint32Array(WORDS);

  get size(): number {
    return this.count;
  }

  add(id: Uint8Array): boolean {
    checkId(id);
    return this.addAt(id, 0);
  }

  addMany(ids: Uint8Array): number {
    if (!(ids instanceof Uint8Array) || ids.byteLength % ID_BYTES !== 0) {
      throw new CoreError('EINVAL', `addMany needs n × 32 bytes, got ${ids instanceof Uint8Array ? ids.byteLength : typeof ids}`);
    }
    let added = 0;
    for (let off = 0; off < ids.byteLength; off += ID_BYTES) if (this.addAt(ids, off)) added++;
    return added;
  }

  has(id: Uint8Array): boolean {
    checkId(id);
    this.loadKey(id, 0);
    return this.find() >= 0;
  }

  delete(id: Uint8Array): boolean {
    checkId(id);
    this.loadKey(id, 0);
    const found = this.find();
    if (found < 0) return false;
    this.removeSlot(found);
    this.count--;
    return true;
  }

  private addAt(bytes: Uint8Array, off: number): boolean {
    this.loadKey(bytes, off);
    const found = this.find();
    if (found >= 0) return false;
    if ((this.count + 1) * MAX_LOAD_DEN > this.capacity * MAX_LOAD_NUM) {
      this.grow();
      this.store(this.find());
    } else {
      this.store(found);
    }
    this.count++;
    return true;
  }

  private loadKey(bytes: Uint8Array, off: number): void {
    const k = this.key;
    for (let w = 0; w < WORDS; w++) {
      const p = off + 4 * w;
      k[w] = (bytes[p] as number) | ((bytes[p + 1] as number) << 8) | ((bytes[p + 2] as number) << 16) | ((bytes[p + 3] as number) << 24);
    }
  }

  /** Ids are usually hashes already; mixing two words still spreads structured ids (tests, zeros). */
  private home(words: Uint32Array, base: number): number {
    const h = Math.imul((words[base] as number) ^ Math.imul(words[base + 5] as number, 0x85ebca6b), 0x9e3779b1);
    return (h ^ (h >>> 15)) & (this.capacity - 1);
  }

  /** Slot of the key when present; otherwise -(free slot) - 1. */
  private find(): number {
    const k = this.key;
    const mask = this.capacity - 1;
    const slots = this.slots;
    const used = this.used;
    for (let i = this.home(k, 0); ; i = (i + 1) & mask) {
      if (used[i] === 0) return -i - 1;
      const b = i * WORDS;
      if (
        slots[b] === k[0] && slots[b + 1] === k[1] && slots[b + 2] === k[2] && slots[b + 3] === k[3] &&
        slots[b + 4] === k[4] && slots[b + 5] === k[5] && slots[b + 6] === k[6] && slots[b + 7] === k[7]
      ) {
        return i;
      }
    }
  }

  private store(freeCode: number): void {
    const slot = -freeCode - 1;
    this.slots.set(this.key, slot * WORDS);
    this.used[slot] = 1;
  }

  /** Backward-shift deletion: keeps probe chains intact without tombstones. */
  private removeSlot(slot: number): void {
    const mask = this.capacity - 1;
    const slots = this.slots;
    const used = this.used;
    let hole = slot;
    for (let i = (hole + 1) & mask; used[i] === 1; i = (i + 1) & mask) {
      const home = this.home(slots, i * WORDS);
      // Move entry i into the hole when its home is not cyclically within (hole, i].
      const inRange = hole <= i ? home > hole && home <= i : home > hole || home <= i;
      if (!inRange) {
        slots.copyWithin(hole * WORDS, i * WORDS, i * WORDS + WORDS);
        used[hole] = 1;
        hole = i;
      }
    }
    used[hole] = 0;
  }

  private grow(): void {
    const oldSlots = this.slots;
    const oldUsed = this.used;
    const oldCapacity = this.capacity;
    this.capacity = oldCapacity * 2;
    this.slots = new Uint32Array(this.capacity * WORDS);
    this.used = new Uint8Array(this.capacity);
    const k = this.key;
    const saved = k.slice();
    for (let s = 0; s < oldCapacity; s++) {
      if (oldUsed[s] === 0) continue;
      k.set(oldSlots.subarray(s * WORDS, s * WORDS + WORDS));
      this.store(this.find());
    }
    k.set(saved);
  }
}

function checkId(id: unknown): void {
  if (!(id instanceof Uint8Array) || id.byteLength !== ID_BYTES) {
    throw new CoreError('EINVAL', `blob id must be 32 bytes, got ${id instanceof Uint8Array ? id.byteLength : typeof id}`);
  }
}
