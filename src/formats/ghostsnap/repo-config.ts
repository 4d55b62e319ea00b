// The plaintext `config` object (formats/ghostsnap.md §2): pretty JSON exactly as serde_json
// writes it. `chunker_polynomial` is unused by ghostsnap but required; its value does not fit a
// JavaScript number, so it is written as literal text and ignored on read.
import { CorruptDataError } from '../../backup/errors.ts';
import { encodeKdfParams, kdfProblem, type KdfParams } from './keys.ts';

const CHUNKER_POLYNOMIAL = '17349423945073011';
const POLYNOMIAL_PLACEHOLDER = '"@@chunker_polynomial@@"';

export interface GhostsnapConfig {
  version: 1;
  id: string;
  kdf: KdfParams;
  /** Local repositories say "Local"; remote ones leave the transport out (the URI decides). */
  transport?: 'Local';
}

export function encodeConfig(config: GhostsnapConfig): Buffer {
  const text = JSON.stringify(
    {
      version: config.version,
      id: config.id,
      chunker_polynomial: '@@chunker_polynomial@@',
      kdf_params: encodeKdfParams(config.kdf),
      ...(config.transport ? { transport: config.transport } : {}),
    },
    null,
    2,
  );
  return Buffer.from(text.replace(POLYNOMIAL_PLACEHOLDER, CHUNKER_POLYNOMIAL));
}

export function decodeConfig(bytes: Buffer, location: string): GhostsnapConfig {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new CorruptDataError(`the config of ${location} is not JSON: not a ghostsnap repository, or damaged`);
  }
  if (typeof json !== 'object' || json === null) throw new CorruptDataError(`the config of ${location} is not a JSON object`);
  if (json['version'] !== 1) {
    throw new CorruptDataError(`the config of ${location} has version ${JSON.stringify(json['version'])}; ghostsnap repositories have version 1`, {
      hint: 'a restic repository? then set tool = "restic"',
    });
  }
  if (typeof json['id'] !== 'string') throw new CorruptDataError(`the config of ${location} has no id`);
  const problem = kdfProblem(json['kdf_params']);
  if (problem) throw new CorruptDataError(`the config of ${location}: ${problem}; refusing to open it`, { details: { object: 'config' } });
  return {
    version: 1,
    id: json['id'],
    kdf: json['kdf_params'] as KdfParams,
    ...(json['transport'] === 'Local' ? { transport: 'Local' as const } : {}),
  };
}
