// Worker for the two-process test of the local backend: increments a counter object `rounds`
// times with compare-and-swap puts (ifMatch), and also races to create one object per round
// (ifNoneMatch), printing how many it won. Run by bun (TypeScript without a build step).
import { LocalStorage } from '../../../src/storage/local.ts';
import { PreconditionFailedError } from '../../../src/storage/errors.ts';

const [root = '', roundsText = '0', name = 'worker'] = process.argv.slice(2);
const rounds = Number(roundsText);
const storage = new LocalStorage({ root, uploadBucket: undefined });

let conflicts = 0;
let created = 0;
for (let i = 0; i < rounds; i++) {
  for (;;) {
    const info = await storage.stat('counter');
    if (!info) throw new Error('counter missing');
    const value = Number((await storage.get('counter')).toString());
    try {
      await storage.put('counter', Buffer.from(String(value + 1)), { ifMatch: info.etag });
      break;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      conflicts++;
    }
  }
  try {
    await storage.put(`claims/${i}`, Buffer.from(name), { ifNoneMatch: true });
    created++;
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
  }
}
process.stdout.write(JSON.stringify({ name, conflicts, created }) + '\n');
