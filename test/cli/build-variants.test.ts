// Build variants (issue #10 item 10): BOLT_FORMATS=restic or =ghostsnap builds a binary without
// the other format's code; --version lists the formats built in; a configuration naming the
// missing format exits 2 with a clear message.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, repoRoot } from '../helpers/cli.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-variants-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const bun = path.join(repoRoot, 'node_modules', '.bin', 'bun');

/** Source modules the bundler put into a build for these formats (bun's metafile). */
function bundledModules(formats: string): string[] {
  const out = path.join(tmp, `bundle-${formats}`);
  const meta = path.join(out, 'meta.json');
  const r = spawnSync(bun, ['build', path.join(repoRoot, 'src', 'cli', 'entry.ts'), '--outdir', out, '--target', 'bun', '--minify-syntax', '--define', `process.env.BOLT_FORMATS=${JSON.stringify(formats)}`, `--metafile=${meta}`], { encoding: 'utf8', cwd: repoRoot });
  expect(r.status, r.stderr).toBe(0);
  return Object.keys((JSON.parse(fs.readFileSync(meta, 'utf8')) as { inputs: Record<string, unknown> }).inputs);
}

describe.each([
  ['restic', 'ghostsnap'],
  ['ghostsnap', 'restic'],
] as const)('a %s-only binary', (kept, dropped) => {
  const binary = path.join(tmp, `bolt-agent-${kept}`);

  it(`contains none of the ${dropped} format's code`, () => {
    const modules = bundledModules(kept);
    expect(modules.some((m) => m.includes(`src/formats/${kept}/`))).toBe(true);
    expect(modules.filter((m) => m.includes(`src/formats/${dropped}/`))).toEqual([]);
  });

  it('is built by npm run build:binary and lists only its format', () => {
    const build = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build-binary.mjs')], { env: { ...process.env, BOLT_FORMATS: kept, OUT: binary }, encoding: 'utf8', cwd: repoRoot });
    expect(build.status, build.stderr).toBe(0);
    const version = spawnSync(binary, ['--version', '--json'], { encoding: 'utf8', env: cleanEnv() });
    expect(JSON.parse(version.stdout).formats).toEqual([kept]);
  });

  it(`refuses a configuration that names ${dropped}, with exit 2`, () => {
    const pw = path.join(tmp, 'pw');
    fs.writeFileSync(pw, 'x');
    const r = spawnSync(binary, ['--tool', dropped, '--repo', path.join(tmp, 'repo'), '--password-file', pw, 'backup', 'list'], { encoding: 'utf8', env: cleanEnv() });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`built without the ${dropped} format`);
  });
});
