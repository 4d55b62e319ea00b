// Which repository formats this build contains. `BOLT_FORMATS` is replaced at bundle time by
// scripts/build-binary.mjs (`--define`), so a single-format binary drops the other format's code.
import type { BackupToolName } from '../backup/types.ts';

const declared = (process.env['BOLT_FORMATS'] ?? 'restic,ghostsnap').split(',').map((s) => s.trim());

export const BUILT_IN_FORMATS: readonly BackupToolName[] = (['restic', 'ghostsnap'] as const).filter((f) => declared.includes(f));

export function isFormatBuiltIn(tool: BackupToolName): boolean {
  return BUILT_IN_FORMATS.includes(tool);
}
