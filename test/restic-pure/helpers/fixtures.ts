// Paths and typed views of the restic fixtures (test/fixtures/restic, copied from the shared
// fixtures the real restic wrote).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/restic', import.meta.url));
export const FIXTURE_PASSWORD = readFileSync(join(FIXTURES, 'password.txt'), 'utf8');

export interface ManifestEntry {
  path: string;
  type: string;
  mode_octal: string;
  go_mode: number;
  mtime: string;
  size?: number;
  sha256?: string;
  content?: string[];
  subtree?: string;
  linktarget?: string;
  xattrs?: Record<string, string>;
}

export interface ManifestSnapshot {
  id: string;
  time: string;
  hostname: string;
  username: string;
  paths: string[];
  tags: string[];
  parent: string | null;
  tree: string;
  entries: ManifestEntry[];
}

export interface ManifestRepository {
  repository_version: number;
  config_plaintext: string;
  key_file: string;
  master_key_json: string;
  packs: Record<string, Array<{ type: string; id: string; offset: number; length: number; uncompressed_length?: number }>>;
  index_files: string[];
  snapshots: ManifestSnapshot[];
}

export const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as {
  repositories: Record<'v1' | 'v2', ManifestRepository>;
};

export const cryptoVectors = JSON.parse(readFileSync(join(FIXTURES, 'crypto-vectors.json'), 'utf8')) as {
  tiny_repository: {
    tree_plaintext_utf8: string;
    tree_id: string;
    index_plaintext_utf8: string;
    snapshot_plaintext_utf8: string;
  };
  unpacked_v2: { json_utf8: string };
  config: { plaintext_utf8: string };
  seal: { master_key: { json: string }; iv_hex: string; plaintext_utf8: string; stored_hex: string };
};
