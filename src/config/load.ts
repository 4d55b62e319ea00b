// Builds the effective configuration from its four sources, highest first:
// command-line flags > environment > file > defaults, remembering where each value came from.
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { InvalidConfigError } from '../backup/errors.ts';
import { backupConfigSchema, knownKeys, type BackupConfig, type BackupTool } from './schema.ts';
import { convertEnvValue, ENV_BINDINGS, PASSWORD_VARIABLES } from './env.ts';
import { didYouMean } from './did-you-mean.ts';
import { DEFAULTS } from './defaults.ts';

export type SourceKind = 'default' | 'file' | 'env' | 'flag';

export interface ValueSource {
  kind: SourceKind;
  /** The file path, environment variable or flag that set the value. */
  name: string;
}

/** Values given as command-line flags (global flags that map to config keys). */
export interface ConfigFlags {
  config?: string;
  repo?: string;
  passwordFile?: string;
  tool?: string;
}

export interface EffectiveConfig {
  config: BackupConfig;
  /** Key path ("performance.parallel_uploads") → where its value came from. */
  sources: Map<string, ValueSource>;
  /** The config file that was read, if any. */
  file?: string;
  /** Other tables of a Boltfile (project, services, snapshots) for Bolt integration. */
  boltfile?: Record<string, unknown>;
  /** A password given directly (RESTIC_PASSWORD / GHOSTSNAP_PASSWORD). */
  password?: { value: string; source: ValueSource };
  /** Non-fatal notes (e.g. "no [backups] table in ./Boltfile.toml"). */
  notes: string[];
}

export interface LoadOptions {
  flags?: ConfigFlags;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Search order after --config and $BOLT_AGENT_CONFIG; tests override it. */
  searchPaths?: string[];
  /** Check that password_file / key_file exist and are readable (default true). */
  checkFiles?: boolean;
}

type Tree = Record<string, unknown>;

const FLAG_PATHS: Record<keyof Omit<ConfigFlags, 'config'>, { path: string; flag: string }> = {
  repo: { path: 'repository', flag: '--repo' },
  passwordFile: { path: 'password_file', flag: '--password-file' },
  tool: { path: 'tool', flag: '--tool' },
};

/** Keys whose values are filesystem paths: relative ones are resolved against their source's directory. */
const PATH_KEYS = new Set(['password_file', 'key_file', 'restic.cache_dir', 'security.ca_bundle']);
const PATH_LIST_KEYS = new Set(['include.system_config', 'include.custom_paths', 'exclude.paths']);

function isObject(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function setPath(tree: Tree, keyPath: string, value: unknown): void {
  const parts = keyPath.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(node[part])) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts[parts.length - 1] ?? ''] = value;
}

function getPath(tree: Tree, keyPath: string): unknown {
  let node: unknown = tree;
  for (const part of keyPath.split('.')) {
    if (!isObject(node)) return undefined;
    node = node[part];
  }
  return node;
}

/** Leaf key paths of a tree (arrays are leaves). */
function leaves(tree: Tree, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(tree)) {
    const p = prefix ? `${prefix}.${key}` : key;
    if (isObject(value) && Object.keys(value).length > 0) out.push(...leaves(value, p));
    else out.push(p);
  }
  return out;
}

function resolveLocalRepository(value: unknown, baseDir: string): unknown {
  if (typeof value !== 'string' || !value) return value;
  if (/^[a-z][a-z0-9]*:/.test(value) && !value.startsWith('local:')) return value;
  const p = value.startsWith('local:') ? value.slice('local:'.length) : value;
  return path.resolve(baseDir, p);
}

/** Makes relative paths of one source layer absolute against `baseDir`. */
function resolvePaths(layer: Tree, baseDir: string): void {
  for (const key of leaves(layer)) {
    const value = getPath(layer, key);
    if (PATH_KEYS.has(key) && typeof value === 'string' && value) setPath(layer, key, path.resolve(baseDir, value));
    if (PATH_LIST_KEYS.has(key) && Array.isArray(value)) {
      setPath(layer, key, value.map((v) => (typeof v === 'string' && !v.includes('*') ? path.resolve(baseDir, v) : v)));
    }
    if (key === 'repository') setPath(layer, key, resolveLocalRepository(value, baseDir));
  }
}

interface FileLayer {
  file: string;
  values: Tree;
  boltfile?: Tree;
  note?: string;
}

function readConfigFile(file: string): FileLayer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidConfigError(`${file}: cannot read the configuration file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      details: { file },
    });
  }
  const yaml = /\.ya?ml$/i.test(file);
  let doc: unknown;
  try {
    doc = yaml ? parseYaml(text) : parseToml(text);
  } catch (err) {
    const e = err as { line?: number; column?: number; linePos?: { line: number; col: number }[]; message: string };
    const line = e.line ?? e.linePos?.[0]?.line;
    const column = e.column ?? e.linePos?.[0]?.col;
    const where = line ? `:${line}${column ? `:${column}` : ''}` : '';
    throw new InvalidConfigError(`${file}${where}: invalid ${yaml ? 'YAML' : 'TOML'}: ${e.message.split('\n')[0]}`, { details: { file, line, column } });
  }
  if (doc === null || doc === undefined) return { file, values: {}, note: `${file} is empty` };
  if (!isObject(doc)) throw new InvalidConfigError(`${file}: expected a table of settings at the top level`, { details: { file } });
  if (yaml && !isObject(doc['backups'])) return { file, values: doc };
  const backups = doc['backups'];
  if (backups === undefined) return { file, values: {}, boltfile: doc, note: `${file} has no [backups] table; using defaults` };
  if (!isObject(backups)) throw new InvalidConfigError(`${file}: backups: expected a table ([backups])`, { details: { file, key: 'backups' } });
  const { backups: _omit, ...rest } = doc;
  return { file, values: structuredClone(backups), boltfile: rest };
}

function findConfigFile(opts: Required<Pick<LoadOptions, 'cwd'>> & LoadOptions, env: NodeJS.ProcessEnv): string | undefined {
  const explicit = opts.flags?.config ?? env['BOLT_AGENT_CONFIG'];
  if (explicit) {
    const file = path.resolve(opts.cwd, explicit);
    const via = opts.flags?.config ? '--config' : 'BOLT_AGENT_CONFIG';
    if (!fs.existsSync(file)) throw new InvalidConfigError(`${file}: configuration file not found (given by ${via})`, { details: { file } });
    return file;
  }
  const candidates = opts.searchPaths ?? [path.join(opts.cwd, 'Boltfile.toml'), '/etc/bolt/bolt.toml'];
  return candidates.find((f) => fs.existsSync(f));
}

function describeSource(source: ValueSource | undefined, fallbackFile: string | undefined): string {
  if (!source) return fallbackFile ?? 'configuration';
  switch (source.kind) {
    case 'file':
      return source.name;
    case 'env':
      return `environment ${source.name}`;
    case 'flag':
      return `flag ${source.name}`;
    case 'default':
      return 'built-in default';
  }
}

function formatIssue(issue: z.core.$ZodIssue, sources: Map<string, ValueSource>, file: string | undefined, merged: Tree): InvalidConfigError {
  const keyPath = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const full = keyPath ? `${keyPath}.${key}` : key;
    const suggestion = didYouMean(key, knownKeys(issue.path as (string | number)[]));
    const where = describeSource(sources.get(full), file);
    const known = knownKeys(issue.path as (string | number)[]);
    return new InvalidConfigError(
      `${where}: backups.${full}: unknown key${suggestion ? ` (did you mean "${suggestion}"?)` : ''}; expected one of: ${known.join(', ')}`,
      { details: { source: where, key: `backups.${full}`, suggestion } },
    );
  }
  const where = describeSource(sources.get(keyPath), file);
  const got = getPath(merged, keyPath);
  const gotText = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
  return new InvalidConfigError(`${where}: backups.${keyPath}: ${issue.message}${gotText}`, {
    details: { source: where, key: `backups.${keyPath}` },
  });
}

function checkReadableFile(keyPath: string, value: unknown, sources: Map<string, ValueSource>, file: string | undefined): void {
  if (typeof value !== 'string') return;
  try {
    fs.accessSync(value, fs.constants.R_OK);
    if (!fs.statSync(value).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
  } catch (err) {
    const where = describeSource(sources.get(keyPath), file);
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    throw new InvalidConfigError(`${where}: backups.${keyPath}: ${reason}: ${value}; expected a readable file holding the repository password`, {
      details: { source: where, key: `backups.${keyPath}`, path: value },
    });
  }
}

/** Loads, merges and validates the configuration. Throws InvalidConfigError (exit 2) on any problem. */
export function loadConfig(options: LoadOptions = {}): EffectiveConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const sources = new Map<string, ValueSource>();
  const merged: Tree = structuredClone(DEFAULTS) as Tree;
  for (const key of leaves(merged)) sources.set(key, { kind: 'default', name: 'default' });
  const notes: string[] = [];

  const apply = (layer: Tree, source: ValueSource): void => {
    for (const key of leaves(layer)) {
      setPath(merged, key, getPath(layer, key));
      sources.set(key, source);
    }
  };

  const file = findConfigFile({ ...options, cwd }, env);
  let boltfile: Tree | undefined;
  if (file) {
    const layer = readConfigFile(file);
    if (layer.note) notes.push(layer.note);
    boltfile = layer.boltfile;
    resolvePaths(layer.values, path.dirname(file));
    apply(layer.values, { kind: 'file', name: file });
  }

  const flagLayer: Tree = {};
  const flagSources = new Map<string, string>();
  for (const [name, binding] of Object.entries(FLAG_PATHS) as [keyof typeof FLAG_PATHS, { path: string; flag: string }][]) {
    const value = options.flags?.[name];
    if (value !== undefined) {
      setPath(flagLayer, binding.path, value);
      flagSources.set(binding.path, binding.flag);
    }
  }

  // The tool decides which tool-specific variables (RESTIC_*, GHOSTSNAP_*) apply.
  const toolValue = getPath(flagLayer, 'tool') ?? env['BOLT_BACKUP_TOOL'] ?? getPath(merged, 'tool');
  const tool: BackupTool = toolValue === 'ghostsnap' ? 'ghostsnap' : 'restic';

  const envLayer: Tree = {};
  const envSources = new Map<string, string>();
  for (const binding of ENV_BINDINGS) {
    const raw = env[binding.variable];
    if (raw === undefined || raw === '') continue;
    if (binding.tool && binding.tool !== tool) continue;
    if (envSources.has(binding.path)) continue; // BOLT_BACKUP_* come first and win over RESTIC_*/GHOSTSNAP_*
    setPath(envLayer, binding.path, convertEnvValue(binding.type, raw));
    envSources.set(binding.path, binding.variable);
  }
  resolvePaths(envLayer, cwd);
  for (const key of leaves(envLayer)) {
    setPath(merged, key, getPath(envLayer, key));
    sources.set(key, { kind: 'env', name: envSources.get(key) ?? 'environment' });
  }

  resolvePaths(flagLayer, cwd);
  for (const key of leaves(flagLayer)) {
    setPath(merged, key, getPath(flagLayer, key));
    sources.set(key, { kind: 'flag', name: flagSources.get(key) ?? 'flag' });
  }

  const result = backupConfigSchema.safeParse(merged);
  if (!result.success) {
    const first = result.error.issues[0];
    if (first) throw formatIssue(first, sources, file, merged);
  }
  const config = (result.data ?? {}) as BackupConfig;

  let password: EffectiveConfig['password'];
  const passwordVar = PASSWORD_VARIABLES[config.tool ?? 'restic'];
  if (env[passwordVar] !== undefined && env[passwordVar] !== '') {
    password = { value: env[passwordVar] ?? '', source: { kind: 'env', name: passwordVar } };
  }

  if (options.checkFiles !== false) {
    checkReadableFile('password_file', config.password_file, sources, file);
    checkReadableFile('key_file', config.key_file, sources, file);
  }

  return {
    config,
    sources,
    ...(file ? { file } : {}),
    ...(boltfile ? { boltfile } : {}),
    ...(password ? { password } : {}),
    notes,
  };
}
