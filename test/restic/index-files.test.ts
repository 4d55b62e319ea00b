// Index files are written as blobs are stored, one every `indexMaxBlobs` (25,000 by default):
// what is pending until then is held in memory, so the limit bounds it. restic reads the result.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { RESTIC_014, resticOk } from '../helpers/restic.ts';
import { getCore } from '../../src/native/index.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { ResticRepository } from '../../src/formats/restic/repository.ts';
import { Packer } from '../../src/formats/restic/packer.ts';
import { decodeIndex } from '../../src/formats/restic/index-json.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-index-files-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const PASSWORD = 'index-files';

describe('index files of a run', () => {
  it('are written every few blobs when the limit is small, and restic checks the repository', async () => {
    const repo = path.join(tmp, 'repo');
    fs.writeFileSync(path.join(tmp, 'pw'), PASSWORD);
    expect(runCli(['--repo', repo, '--password-file', path.join(tmp, 'pw'), 'backup', 'init', repo]).code).toBe(0);
    const core = await getCore();
    const r = await ResticRepository.open(new LocalStorage({ root: repo, uploadBucket: undefined }), core, Buffer.from(PASSWORD));
    // Packs of about one blob each, an index file every 3 blobs.
    const packer = new Packer(r, await r.index(), 64, 1, { indexMaxBlobs: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const content = Buffer.from(`blob number ${i}\n`);
      const id = core.hash('sha256', content);
      ids.push(id.toString('hex'));
      await packer.addDataBlobs([{ chunkIndex: 0, id, rawLength: content.length, compressed: false, data: core.seal(r.seal, content) }]);
    }
    await packer.flush();

    const files = fs.readdirSync(path.join(repo, 'index'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    const counts: number[] = [];
    const indexed: string[] = [];
    for (const id of files) {
      const index = decodeIndex(await r.readUnpacked('index', id));
      const blobs = index.packs.flatMap((p) => p.blobs);
      counts.push(blobs.length);
      indexed.push(...blobs.map((b) => b.id));
    }
    // Each file closes at the first pack that brings it to the limit.
    for (const n of counts) expect(n).toBeLessThanOrEqual(4);
    expect(indexed.sort()).toEqual([...ids].sort());
    expect(resticOk(RESTIC_014, repo, PASSWORD, ['check', '--read-data'])).toContain('no errors were found');
    expect(resticOk(RESTIC_014, repo, PASSWORD, ['list', 'blobs']).trim().split('\n')).toHaveLength(10);
  });
});
