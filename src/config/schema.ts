// The [backups] table of a Bolt Boltfile (or a YAML file with the same keys): the requirements'
// BackupConfig with every sub-struct, snake_case keys exactly as there, plus the extensions
// documented in docs/CONFIG.md (marked "ext" below). Unknown keys are errors.
import { z } from 'zod';
import { parseDuration, parseRate, parseSize } from './units.ts';
import { expectedScheduleForm, parseSchedule, type ScheduleKind } from './schedule.ts';
import { parseRepositoryUrl, REPOSITORY_FORMS, RepositoryUrlError } from './repository-url.ts';

const count = z.number({ error: 'expected a whole number >= 0' }).int('expected a whole number >= 0').min(0, 'expected a whole number >= 0').max(2 ** 32 - 1, 'expected a whole number < 2^32');
const positive = z.number({ error: 'expected a whole number >= 1' }).int('expected a whole number >= 1').min(1, 'expected a whole number >= 1');
const bool = z.boolean({ error: 'expected true or false' });
const text = z.string({ error: 'expected a string' });
const stringList = z.array(text, { error: 'expected a list of strings' });

const size = z.union([z.string(), z.number()], { error: 'expected a size such as "4MiB" or "64MB"' }).refine((v) => parseSize(v) !== undefined, {
  message: 'expected a size such as "4MiB", "64MB" or a number of bytes',
});
const rate = text.refine((v) => parseRate(v) !== undefined, { message: 'expected a rate such as "10MiB/s" or "500KB/s"' });
const duration = z.union([z.string(), z.number()], { error: 'expected a duration such as "30s"' }).refine((v) => parseDuration(v) !== undefined, {
  message: 'expected a duration such as "30s", "5m" or "1h" (a plain number means seconds)',
});
const schedule = (kind: ScheduleKind) =>
  text.superRefine((value, ctx) => {
    const parsed = parseSchedule(kind, value);
    if ('error' in parsed) ctx.addIssue({ code: 'custom', message: `expected ${expectedScheduleForm(kind)}; ${parsed.error}` });
  });
const repositoryUrl = text.superRefine((value, ctx) => {
  try {
    parseRepositoryUrl(value);
  } catch (err) {
    if (!(err instanceof RepositoryUrlError)) throw err;
    ctx.addIssue({ code: 'custom', message: `${err.message}; expected one of: ${REPOSITORY_FORMS.join('; ')}` });
  }
});
const httpUrl = text.refine((v) => /^https?:\/\/[^/\s]+/.test(v), { message: 'expected an http:// or https:// URL' });

export const compressionPattern = /^(off|none|auto|max|fastest|zstd|zstd:(\d{1,2})|zlib|zlib:(\d))$/;
const compression = text.superRefine((value, ctx) => {
  const m = compressionPattern.exec(value);
  const level = m ? Number(m[2] ?? m[3] ?? 1) : NaN;
  const ok = m && (m[2] === undefined || (level >= 1 && level <= 22)) && (m[3] === undefined || (level >= 0 && level <= 9));
  if (!ok) ctx.addIssue({ code: 'custom', message: 'expected off, auto, max, zstd, zstd:<1-22>, zlib or zlib:<0-9>' });
});

export const backupToolSchema = z.enum(['restic', 'ghostsnap'], { error: 'expected "restic" or "ghostsnap"' });

export const triggersSchema = z.strictObject({
  after_snapshot: bool.optional(),
  daily: schedule('daily').optional(),
  weekly: schedule('weekly').optional(),
  monthly: schedule('monthly').optional(),
  before_surge_operations: bool.optional(),
  on_container_changes: bool.optional(),
  on_file_changes: bool.optional(),
  /** ext: random delay added to scheduled runs, spreading load across hosts. */
  jitter: duration.optional(),
  /** ext: quiet time before a change trigger fires, and the minimum gap between such runs. */
  debounce: duration.optional(),
  min_interval: duration.optional(),
});

export const retentionSchema = z.strictObject({
  keep_daily: count.optional(),
  keep_weekly: count.optional(),
  keep_monthly: count.optional(),
  keep_yearly: count.optional(),
  keep_last: count.optional(),
  /** ext */
  keep_hourly: count.optional(),
});

export const includeSchema = z.strictObject({
  container_volumes: bool.optional(),
  bolt_config: bool.optional(),
  system_config: stringList.optional(),
  custom_paths: stringList.optional(),
});

export const excludeSchema = z.strictObject({
  patterns: stringList.optional(),
  paths: stringList.optional(),
});

/** ext: read the include set from filesystem snapshots (docs/BOLT.md). */
export const consistencySchema = z.strictObject({
  filesystem_snapshots: z.enum(['auto', 'off', 'required'], { error: 'expected "auto", "off" or "required"' }).optional(),
});

/** A command: one string run by /bin/sh -c, or the program and its arguments. */
const command = z.union([z.string().min(1, 'expected a non-empty command'), z.array(text).min(1, 'expected [program, arguments...]')], {
  error: 'expected a command string or a list [program, arguments...]',
});

/** ext: application-consistency commands of one Boltfile service, run around the snapshot. */
export const serviceHooksSchema = z.strictObject({
  pre: command.optional(),
  post: command.optional(),
  timeout: duration.optional(),
});

export const s3Schema = z.strictObject({
  endpoint: httpUrl.optional(),
  bucket: text.optional(),
  region: text.optional(),
  access_key_id: text.optional(),
  secret_access_key: text.optional(),
  use_tls: bool.optional(),
  verify_certificates: bool.optional(),
  /** ext */
  prefix: text.optional(),
  session_token: text.optional(),
  profile: text.optional(),
  path_style: bool.optional(),
  server_side_encryption: z.enum(['AES256', 'aws:kms'], { error: 'expected "AES256" or "aws:kms"' }).optional(),
  sse_kms_key_id: text.optional(),
});

export const azureSchema = z.strictObject({
  account_name: text.optional(),
  container: text.optional(),
  /** ext */
  account_key: text.optional(),
  connection_string: text.optional(),
  sas_token: text.optional(),
  endpoint: httpUrl.optional(),
  prefix: text.optional(),
});

export const minioSchema = z.strictObject({
  endpoint: text.optional(),
  bucket: text.optional(),
  access_key: text.optional(),
  secret_key: text.optional(),
  use_tls: bool.optional(),
  /** ext */
  region: text.optional(),
  prefix: text.optional(),
  verify_certificates: bool.optional(),
});

export const storageSchema = z.strictObject({
  primary: repositoryUrl.optional(),
  secondary: repositoryUrl.optional(),
  s3: s3Schema.optional(),
  azure: azureSchema.optional(),
  minio: minioSchema.optional(),
});

export const performanceSchema = z.strictObject({
  parallel_uploads: positive.max(64, 'expected at most 64').optional(),
  chunk_size: size.optional(),
  compression: compression.optional(),
  compression_level: z.number({ error: 'expected a whole number 0-22' }).int().min(0).max(22, 'expected a whole number 0-22').optional(),
  bandwidth_limit: rate.optional(),
  /** ext */
  threads: positive.max(256).optional(),
  retry_attempts: count.max(20, 'expected at most 20').optional(),
  timeout: duration.optional(),
});

export const securitySchema = z.strictObject({
  encryption: z.enum(['auto', 'aes256-ctr-poly1305', 'chacha20poly1305'], { error: 'expected "auto", "aes256-ctr-poly1305" (restic) or "chacha20poly1305" (ghostsnap)' }).optional(),
  key_derivation: z.enum(['auto', 'scrypt', 'argon2', 'argon2id'], { error: 'expected "auto", "scrypt" (restic) or "argon2id" (ghostsnap)' }).optional(),
  verify_certificates: bool.optional(),
  /** ext: PEM bundle of extra trusted CAs. */
  ca_bundle: text.optional(),
});

export const ghostsnapSchema = z.strictObject({
  exclude_patterns: stringList.optional(),
  chunk_size: size.optional(),
  compression: compression.optional(),
  /** ext */
  pack_size: size.optional(),
});

export const resticSchema = z.strictObject({
  cache_dir: text.optional(),
  parallel_connections: positive.max(64, 'expected at most 64').optional(),
  /** ext */
  pack_size: size.optional(),
  repository_version: z.union([z.literal(1), z.literal(2)], { error: 'expected 1 or 2' }).optional(),
});

export const backupConfigSchema = z.strictObject({
  enabled: bool.optional(),
  tool: backupToolSchema.optional(),
  repository: repositoryUrl.optional(),
  password_file: text.optional(),
  key_file: text.optional(),
  triggers: triggersSchema.optional(),
  retention: retentionSchema.optional(),
  include: includeSchema.optional(),
  exclude: excludeSchema.optional(),
  /** ext */
  consistency: consistencySchema.optional(),
  /** ext: per Boltfile service. */
  hooks: z.record(text, serviceHooksSchema, { error: 'expected a table per service ([backups.hooks.<service>])' }).optional(),
  storage: storageSchema.optional(),
  performance: performanceSchema.optional(),
  security: securitySchema.optional(),
  ghostsnap: ghostsnapSchema.optional(),
  restic: resticSchema.optional(),
});

export type BackupConfig = z.infer<typeof backupConfigSchema>;
export type BackupTool = z.infer<typeof backupToolSchema>;
export type BackupTriggers = z.infer<typeof triggersSchema>;
export type BackupRetention = z.infer<typeof retentionSchema>;
export type BackupInclude = z.infer<typeof includeSchema>;
export type BackupExclude = z.infer<typeof excludeSchema>;
export type BackupConsistency = z.infer<typeof consistencySchema>;
export type ServiceHooks = z.infer<typeof serviceHooksSchema>;
export type BackupStorage = z.infer<typeof storageSchema>;
export type S3Config = z.infer<typeof s3Schema>;
export type AzureConfig = z.infer<typeof azureSchema>;
export type MinIOConfig = z.infer<typeof minioSchema>;
export type BackupPerformance = z.infer<typeof performanceSchema>;
export type BackupSecurity = z.infer<typeof securitySchema>;
export type GhostSnapConfig = z.infer<typeof ghostsnapSchema>;
export type ResticConfig = z.infer<typeof resticSchema>;

/** Keys that hold secrets: redacted in every output. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'storage.s3.secret_access_key',
  'storage.s3.session_token',
  'storage.azure.account_key',
  'storage.azure.connection_string',
  'storage.azure.sas_token',
  'storage.minio.secret_key',
]);

/** Object-typed keys at each level (for did-you-mean and for walking the tree). */
export function knownKeys(pathParts: readonly (string | number)[]): string[] {
  let schema: z.ZodType = backupConfigSchema;
  for (const part of pathParts) {
    const unwrapped = unwrap(schema);
    if (unwrapped instanceof z.ZodRecord) {
      schema = unwrapped.valueType as z.ZodType;
      continue;
    }
    if (!(unwrapped instanceof z.ZodObject)) return [];
    const next = (unwrapped.shape as Record<string, z.ZodType>)[String(part)];
    if (!next) return [];
    schema = next;
  }
  const unwrapped = unwrap(schema);
  return unwrapped instanceof z.ZodObject ? Object.keys(unwrapped.shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  return s;
}
