// Where chunks are, for readers: the index, or — when index/main.idx cannot be read — the chunk
// maps of the packs themselves (small sealed sections at the start of every pack). A damaged
// index then costs ghostsnap everything but costs bolt-agent's restores nothing.
import type { Core } from '../../native/types.ts';
import { CorruptDataError } from '../../backup/errors.ts';
import { mapLimit } from '../../engine/concurrency.ts';
import { ChunkIndex, INDEX_KEY } from './chunk-index.ts';
import { PackReader } from './pack-reader.ts';
import type { GhostsnapRepository } from './repository.ts';

export interface RebuiltIndex {
  index: ChunkIndex;
  /** Packs whose header or chunk map could not be read: pack id → message. */
  unreadable: Map<string, string>;
}

/** An index made from every pack's chunk map. */
export async function indexFromPacks(repo: GhostsnapRepository, core: Core): Promise<RebuiltIndex> {
  const { packs } = await repo.listData();
  const reader = new PackReader(repo, core);
  const index = new ChunkIndex();
  const unreadable = new Map<string, string>();
  await mapLimit([...packs.keys()].sort(), 8, async (packId) => {
    try {
      const { header } = await reader.start(packId);
      const chunks = await reader.chunkMap(packId);
      index.addPack(packId, { size: header.compressedSize, chunkCount: header.chunkCount }, chunks.map((c) => [c.id, c]));
    } catch (err) {
      unreadable.set(packId, (err as Error).message);
    }
  });
  return { index, unreadable };
}

/** The index for reading: main.idx, or rebuilt from the packs when main.idx is damaged. */
export async function locateChunks(repo: GhostsnapRepository, core: Core, warn: (m: string) => void): Promise<ChunkIndex> {
  try {
    return (await repo.loadIndex()).index;
  } catch (err) {
    if (!(err instanceof CorruptDataError)) throw err;
    warn(`${INDEX_KEY} cannot be read (${err.message}); locating chunks from the packs' own chunk maps instead — run \`backup check\``);
    const rebuilt = await indexFromPacks(repo, core);
    for (const [pack, message] of rebuilt.unreadable) warn(`pack ${pack} cannot be read either: ${message}`);
    return rebuilt.index;
  }
}
