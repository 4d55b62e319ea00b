// BackupManager: from the effective configuration to an open repository of the right format on
// the right storage, with the password, include/exclude sets and retention policy resolved.
// The CLI and the daemon both go through it.
import fs from 'node:fs';
import os from 'node:os';
import type { EffectiveConfig } from '../config/load.ts';
import type { BackupConfig } from '../config/schema.ts';
import type { Core } from '../native/types.ts';
import { getCore } from '../native/index.ts';
import type { Storage } from '../storage/storage.ts';
import { openStorage } from '../storage/open-storage.ts';
import { replicate, secondaryLag, verifySecondary, type ReplicationResult, type SecondaryCheck, type SecondaryLag } from '../storage/replicate.ts';
import { testConnection, type ConnectionTestResult } from '../storage/test-connection.ts';
import type { ExcludeRules } from '../engine/exclude.ts';
import { isFormatBuiltIn } from '../formats/built-in.ts';
import type { BackupBackend, RetentionPolicy } from './backend.ts';
import type { BackupToolName } from './types.ts';
import { BackupError, InvalidConfigError } from './errors.ts';

export interface ManagerHooks {
  warn(message: string): void;
  debug(message: string): void;
}

export interface InitResult {
  repository: string;
  tool: BackupToolName;
  id: string;
  version: number;
}

function formatNotBuiltIn(tool: BackupToolName): BackupError {
  return new InvalidConfigError(`this bolt-agent binary was built without the ${tool} format (see \`bolt-agent --version\`)`, {
    hint: 'use a binary built with both formats, or set tool to the format it contains',
  });
}


export class BackupManager {
  private corePromise: Promise<Core> | undefined;

  constructor(
    readonly effective: EffectiveConfig,
    private readonly hooks: ManagerHooks,
  ) {}

  get config(): BackupConfig {
    return this.effective.config;
  }

  /** A manager for another repository (copies): same settings, some keys replaced. */
  derive(overrides: { repository?: string; tool?: BackupToolName; password_file?: string }): BackupManager {
    const config: BackupConfig = { ...this.config };
    if (overrides.repository !== undefined) {
      config.repository = overrides.repository;
      if (config.storage) config.storage = { ...config.storage, primary: overrides.repository };
    }
    if (overrides.tool !== undefined) config.tool = overrides.tool;
    if (overrides.password_file !== undefined) {
      config.password_file = overrides.password_file;
      delete config.key_file;
    }
    return new BackupManager({ ...this.effective, config }, this.hooks);
  }

  get tool(): BackupToolName {
    return this.config.tool ?? 'restic';
  }

  core(): Promise<Core> {
    this.corePromise ??= getCore();
    return this.corePromise;
  }

  /** The primary repository string: `repository`, else `storage.primary`. */
  repository(): string {
    const { repository } = this.config;
    const primary = this.config.storage?.primary;
    if (repository && primary && repository !== primary) {
      this.hooks.warn(`both repository (${repository}) and storage.primary (${primary}) are set; using repository`);
    }
    const chosen = repository ?? primary;
    if (!chosen) {
      throw new InvalidConfigError('no repository configured', {
        hint: 'set repository in the [backups] table, BOLT_BACKUP_REPOSITORY, or pass --repo',
      });
    }
    return chosen;
  }

  /** The repository secret: password_file (surrounding whitespace stripped, as restic does), key_file, or the environment. */
  password(): Buffer {
    const fromFile = (file: string, key: string): Buffer => {
      try {
        return Buffer.from(fs.readFileSync(file, 'utf8').trim());
      } catch (err) {
        throw new InvalidConfigError(`backups.${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    };
    if (this.config.password_file) {
      const pw = fromFile(this.config.password_file, 'password_file');
      if (pw.length === 0) throw new InvalidConfigError(`backups.password_file: ${this.config.password_file} is empty`);
      return pw;
    }
    if (this.config.key_file) return fromFile(this.config.key_file, 'key_file');
    if (this.effective.password) return Buffer.from(this.effective.password.value);
    throw new InvalidConfigError('no repository password given', {
      hint: `set password_file in [backups], pass --password-file, or set ${this.tool === 'restic' ? 'RESTIC_PASSWORD' : 'GHOSTSNAP_PASSWORD'}`,
    });
  }

  async storage(repository = this.repository(), options: { create?: boolean } = {}): Promise<Storage> {
    const baseDir = this.effective.file ? undefined : process.cwd();
    return openStorage(repository, this.config, {
      ...(baseDir ? { baseDir } : {}),
      onWarning: (m) => this.hooks.warn(m),
      onRetry: (info) => this.hooks.debug(`retrying storage request: ${JSON.stringify(info)}`),
      ...(options.create ? { create: true } : {}),
    });
  }

  private checkSecuritySettings(): void {
    const { encryption, key_derivation } = this.config.security ?? {};
    const expected = this.tool === 'restic' ? { encryption: 'aes256-ctr-poly1305', kdf: 'scrypt' } : { encryption: 'chacha20poly1305', kdf: 'argon2id' };
    if (encryption && encryption !== 'auto' && encryption !== expected.encryption) {
      throw new InvalidConfigError(`backups.security.encryption: ${this.tool} repositories always use ${expected.encryption} (got "${encryption}")`);
    }
    if (key_derivation && key_derivation !== 'auto' && key_derivation.replace(/^argon2$/, 'argon2id') !== expected.kdf) {
      throw new InvalidConfigError(`backups.security.key_derivation: ${this.tool} repositories always use ${expected.kdf} (got "${key_derivation}")`);
    }
  }

  threads(): number {
    return this.config.performance?.threads ?? Math.max(1, os.availableParallelism());
  }

  /** Opens the configured repository. */
  async open(repository = this.repository(), password = this.password()): Promise<BackupBackend> {
    this.checkSecuritySettings();
    const tool = this.tool;
    if (!isFormatBuiltIn(tool)) throw formatNotBuiltIn(tool);
    const [core, storage] = await Promise.all([this.core(), this.storage(repository)]);
    try {
      if (tool === 'restic' && process.env['BOLT_FORMATS'] !== 'ghostsnap') {
        const { ResticBackend } = await import('../formats/restic/backend.ts');
        const { ResticRepository } = await import('../formats/restic/repository.ts');
        const { resticSettings } = await import('../formats/restic/settings.ts');
        const repo = await ResticRepository.open(storage, core, password);
        return ResticBackend.fromRepository(repo, core, resticSettings(this.config, this.threads(), repo.version), (m) => this.hooks.warn(m));
      }
      if (tool === 'ghostsnap' && process.env['BOLT_FORMATS'] !== 'restic') {
        const { GhostsnapBackend } = await import('../formats/ghostsnap/backend.ts');
        const { GhostsnapRepository } = await import('../formats/ghostsnap/repository.ts');
        const { ghostsnapSettings } = await import('../formats/ghostsnap/settings.ts');
        const settings = ghostsnapSettings(this.config, this.threads());
        const repo = await GhostsnapRepository.open(storage, core, password);
        return new GhostsnapBackend(repo, core, settings, (m) => this.hooks.warn(m));
      }
      throw formatNotBuiltIn(tool);
    } catch (err) {
      await storage.close();
      throw err;
    }
  }

  /** Creates a repository of the configured format. */
  async init(repository: string, options: { version?: 1 | 2 } = {}): Promise<InitResult> {
    this.checkSecuritySettings();
    const tool = this.tool;
    if (!isFormatBuiltIn(tool)) throw formatNotBuiltIn(tool);
    const password = this.password();
    const [core, storage] = await Promise.all([this.core(), this.storage(repository, { create: true })]);
    try {
      if (tool === 'restic' && process.env['BOLT_FORMATS'] !== 'ghostsnap') {
        const { ResticRepository } = await import('../formats/restic/repository.ts');
        const version = options.version ?? this.config.restic?.repository_version ?? 2;
        const repo = await ResticRepository.init(storage, core, password, { version });
        return { repository: storage.location, tool, id: repo.config.id, version: repo.config.version };
      }
      if (tool === 'ghostsnap' && process.env['BOLT_FORMATS'] !== 'restic') {
        const { GhostsnapRepository } = await import('../formats/ghostsnap/repository.ts');
        const repo = await GhostsnapRepository.init(storage, core, password);
        return { repository: storage.location, tool, id: repo.config.id, version: repo.config.version };
      }
      throw formatNotBuiltIn(tool);
    } finally {
      await storage.close();
    }
  }

  /** The secondary repository string, when one is configured. */
  secondary(): string | undefined {
    return this.config.storage?.secondary;
  }

  private async withBoth<T>(fn: (primary: Storage, secondary: Storage) => Promise<T>): Promise<T> {
    const target = this.secondary();
    if (!target) throw new InvalidConfigError('no secondary storage configured', { hint: 'set storage.secondary in [backups] or BOLT_BACKUP_SECONDARY' });
    const [primary, secondary] = await Promise.all([this.storage(), this.storage(target, { create: true })]);
    try {
      return await fn(primary, secondary);
    } finally {
      await Promise.all([primary.close(), secondary.close()]);
    }
  }

  /** Copies what the secondary lacks (after a successful backup; resumable, verified). */
  replicateToSecondary(options: { signal?: AbortSignal } = {}): Promise<ReplicationResult> {
    return this.withBoth((primary, secondary) => replicate(primary, secondary, { concurrency: this.config.performance?.parallel_uploads ?? 4, ...(options.signal ? { signal: options.signal } : {}) }));
  }

  /** `backup check --secondary`. */
  checkSecondary(readData: boolean): Promise<SecondaryCheck> {
    return this.withBoth((primary, secondary) => verifySecondary(primary, secondary, { readData }));
  }

  secondaryLag(): Promise<SecondaryLag> {
    return this.withBoth((primary, secondary) => secondaryLag(primary, secondary));
  }

  testConnection(repository = this.repository()): Promise<ConnectionTestResult> {
    return testConnection(repository, this.config, { onWarning: (m) => this.hooks.warn(m), ...(this.effective.file ? {} : { baseDir: process.cwd() }) });
  }

  /** Paths to back up: the configured include sets plus extra ones, absolute, in order. */
  includePaths(extra: readonly string[] = []): string[] {
    const inc = this.config.include ?? {};
    const paths = [...(inc.system_config ?? []), ...(inc.custom_paths ?? []), ...extra];
    return paths;
  }

  excludeRules(extraPatterns: readonly string[] = []): ExcludeRules {
    const patterns = [...(this.config.exclude?.patterns ?? []), ...(this.tool === 'ghostsnap' ? (this.config.ghostsnap?.exclude_patterns ?? []) : [])];
    const paths: string[] = [...(this.config.exclude?.paths ?? [])];
    for (const p of extraPatterns) (p.startsWith('/') && !/[*?[{]/.test(p) ? paths : patterns).push(p);
    return { patterns, paths };
  }

  /** The configured retention policy with flag overrides. */
  retentionPolicy(overrides: RetentionPolicy = {}): RetentionPolicy {
    const r = this.config.retention ?? {};
    const policy: RetentionPolicy = {
      ...(r.keep_last !== undefined ? { keep_last: r.keep_last } : {}),
      ...(r.keep_hourly !== undefined ? { keep_hourly: r.keep_hourly } : {}),
      ...(r.keep_daily !== undefined ? { keep_daily: r.keep_daily } : {}),
      ...(r.keep_weekly !== undefined ? { keep_weekly: r.keep_weekly } : {}),
      ...(r.keep_monthly !== undefined ? { keep_monthly: r.keep_monthly } : {}),
      ...(r.keep_yearly !== undefined ? { keep_yearly: r.keep_yearly } : {}),
    };
    for (const [key, value] of Object.entries(overrides)) if (value !== undefined) (policy as Record<string, unknown>)[key] = value;
    return policy;
  }
}
