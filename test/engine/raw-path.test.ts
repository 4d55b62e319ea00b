import { describe, expect, it } from 'vitest';
import { joinRawPath } from '../../src/util/raw-path.ts';

describe('joinRawPath', () => {
  it('joins with one slash, below the root too, and keeps names that are not UTF-8', () => {
    expect(joinRawPath(Buffer.from('/srv/data'), Buffer.from('a.txt')).toString()).toBe('/srv/data/a.txt');
    expect(joinRawPath(Buffer.from('/'), Buffer.from('etc')).toString()).toBe('/etc');
    expect(joinRawPath(Buffer.alloc(0), Buffer.from('etc')).toString()).toBe('/etc');
    expect(joinRawPath(Buffer.from('/x'), Buffer.from([0xff, 0x2e]))).toEqual(Buffer.from([0x2f, 0x78, 0x2f, 0xff, 0x2e]));
  });
});
