// Turns an EncodedBlob back into plaintext with a given core (open, then decompress).
import type { Core, PipelineParams } from '../../src/native/types.ts';

export function decodeBlob(core: Core, params: PipelineParams, blob: { compressed: boolean; data: Buffer; rawLength: number }): Buffer {
  const opened = core.open(params.seal, blob.data);
  if (!blob.compressed) return opened;
  const codec = params.compression.kind === 'zlib' ? 'zlib' : 'zstd';
  return core.decompress(codec, opened, blob.rawLength);
}
