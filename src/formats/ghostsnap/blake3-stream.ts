// Incremental BLAKE3 for a pack's data_checksum, which covers the whole data section: the pack is
// spooled to disk while it is hashed, so it never has to be in memory at once. The compute core
// only hashes complete inputs, hence hash-wasm here (the same library the portable core uses).
import { createBLAKE3, type IHasher } from 'hash-wasm';

export interface StreamHash {
  update(data: Uint8Array): void;
  /** Lower-case hex. */
  digestHex(): string;
}

export async function blake3Stream(): Promise<StreamHash> {
  const state: IHasher = await createBLAKE3(256);
  state.init();
  return {
    update: (data) => {
      state.update(data);
    },
    digestHex: () => state.digest('hex'),
  };
}
