// `backup create --dry-run`: what a backup would read and why, what it would leave out and why,
// how each part would be read (from a snapshot or live), which service commands would run and the
// tags it would carry. Reads the filesystem only; opens no repository and takes no snapshot.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EffectiveConfig } from '../config/load.ts';
import { ExcludeMatcher, type ExcludeRules } from '../engine/exclude.ts';
import { planSnapshots, describeUnit, type SnapshotDeps, type SnapshotMode } from '../snapshots/plan.ts';
import { TEMPORARY_DIR } from '../snapshots/placement.ts';
import { controlDir } from '../snapshots/zfs.ts';
import { hookTimeoutMs } from './app-hooks.ts';
import { withBoltTags, ownersOf } from './bolt-tags.ts';
import { secretFiles } from './consistent-backend.ts';
import type { IncludeEntry, IncludeSet } from './include-set.ts';

export interface DryRunPath extends IncludeEntry {
  /** "dir", "file", "other", or "missing" (the backup would report it as unreadable). */
  type: 'dir' | 'file' | 'other' | 'missing';
  /** Set when the path lies inside an earlier one (counted there). */
  inside?: string;
  files: number;
  dirs: number;
  bytes: number;
  /** How it would be read. */
  read: string;
}

export interface DryRunReport {
  paths: DryRunPath[];
  /** Excluded entries (the first EXCLUDED_LISTED; `excluded_count` has them all). */
  excluded: { path: string; reason: string }[];
  excluded_count: number;
  skipped: { path: string; reason: string }[];
  snapshot_mode: SnapshotMode;
  snapshots: string[];
  hooks: { service: string; pre?: string; post?: string; timeout_ms: number }[];
  tags: string[];
  totals: { files: number; dirs: number; bytes: number };
}

export const EXCLUDED_LISTED = 1000;

function within(p: string, dir: string): boolean {
  return dir === '/' || p === dir || p.startsWith(`${dir}/`);
}

async function typeOf(p: string): Promise<DryRunPath['type']> {
  try {
    const st = await fsp.lstat(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
}

export interface DryRunOptions {
  exclude: ExcludeRules;
  deps?: SnapshotDeps;
  tags?: readonly string[];
  trigger?: string;
  hostname?: string;
}

export async function dryRun(effective: EffectiveConfig, include: IncludeSet, options: DryRunOptions): Promise<DryRunReport> {
  const mode = effective.config.consistency?.filesystem_snapshots ?? 'auto';
  const matcher = new ExcludeMatcher(options.exclude);
  const special = new Map<string, string>();
  for (const f of secretFiles(effective)) special.set(f, 'the repository secret (password_file / key_file) is never backed up');

  const targets = include.entries.map((e) => e.path);
  const readHow = new Map<string, string>();
  const snapshots: string[] = [];
  if (mode !== 'off' && options.deps) {
    const plan = planSnapshots(targets, options.deps);
    for (const unit of plan.units) {
      snapshots.push(describeUnit(unit));
      if (unit.kind === 'btrfs') special.set(path.join(options.deps.mounts.mountOf(unit.root)?.mountPoint ?? unit.root, TEMPORARY_DIR), "bolt-agent's temporary snapshots");
      if (unit.kind === 'zfs') special.set(controlDir(unit.dataset), "ZFS's snapshot directory");
    }
    for (const t of targets) {
      const holder = plan.units.filter((u) => within(t, u.root)).sort((a, b) => b.root.length - a.root.length)[0];
      if (holder) readHow.set(t, holder.kind === 'live' ? `live (${holder.why})` : `from a snapshot of ${holder.kind === 'zfs' ? `ZFS dataset ${holder.dataset.name}` : `btrfs subvolume ${holder.root}`}`);
    }
  }

  const excluded: DryRunReport['excluded'] = [];
  let excludedCount = 0;
  const exclude = (p: string, reason: string): void => {
    excludedCount += 1;
    if (excluded.length < EXCLUDED_LISTED) excluded.push({ path: p, reason });
  };
  const reasonFor = (p: string): string | undefined => special.get(p) ?? matcher.reason(p);

  const paths: DryRunPath[] = [];
  const totals = { files: 0, dirs: 0, bytes: 0 };
  for (const entry of include.entries) {
    const type = await typeOf(entry.path);
    const outer = paths.find((p) => p.type === 'dir' && p.path !== entry.path && within(entry.path, p.path));
    const item: DryRunPath = { ...entry, type, files: 0, dirs: 0, bytes: 0, read: mode === 'off' ? 'live (consistency.filesystem_snapshots = "off")' : (readHow.get(entry.path) ?? 'live') };
    paths.push(item);
    if (outer) {
      item.inside = outer.path;
      continue;
    }
    if (type === 'missing') continue;
    if (type === 'file') {
      item.files = 1;
      item.bytes = (await fsp.lstat(entry.path)).size;
    } else if (type === 'dir') {
      item.dirs = 1;
      const stack = [entry.path];
      while (stack.length) {
        const dir = stack.pop() as string;
        let children;
        try {
          children = await fsp.readdir(dir, { withFileTypes: true });
        } catch (err) {
          exclude(dir, `cannot be listed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
          continue;
        }
        for (const child of children) {
          const full = path.join(dir, child.name);
          const reason = reasonFor(full);
          if (reason) {
            exclude(full, reason);
            continue;
          }
          if (child.isDirectory()) {
            item.dirs += 1;
            stack.push(full);
          } else if (child.isFile()) {
            item.files += 1;
            item.bytes += (await fsp.lstat(full).catch(() => ({ size: 0 }))).size;
          }
        }
      }
    }
    totals.files += item.files;
    totals.dirs += item.dirs;
    totals.bytes += item.bytes;
  }

  const hooks: DryRunReport['hooks'] = [];
  const services = new Set(targets.flatMap((t) => ownersOf(t, include.project, include.volumesDir).services));
  for (const service of [...services].sort()) {
    const spec = effective.config.hooks?.[service];
    if (!spec || (!spec.pre && !spec.post)) continue;
    const text = (c: string | string[] | undefined) => (c === undefined ? undefined : Array.isArray(c) ? c.join(' ') : c);
    const pre = text(spec.pre);
    const post = text(spec.post);
    hooks.push({ service, ...(pre ? { pre } : {}), ...(post ? { post } : {}), timeout_ms: hookTimeoutMs(spec) });
  }
  const tags = withBoltTags(options.tags ?? [], targets, { project: include.project, volumesDir: include.volumesDir, hostname: options.hostname ?? os.hostname(), trigger: options.trigger ?? 'manual' });
  return { paths, excluded, excluded_count: excludedCount, skipped: include.skipped, snapshot_mode: mode, snapshots, hooks, tags, totals };
}
