import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.ts';
import { repoRoot } from '../helpers/cli.ts';

function leafCommands(command: Command, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const sub of command.commands) {
    const p = [...prefix, sub.name()];
    if (sub.commands.length) out.push(...leafCommands(sub, p));
    else out.push(p);
  }
  return out;
}

describe('docs/CLI.md', () => {
  const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'CLI.md'), 'utf8');
  const commands = leafCommands(buildProgram());

  it('has the commands of the requirements', () => {
    const names = commands.map((c) => c.join(' '));
    for (const expected of ['backup init', 'backup create', 'backup list', 'backup show', 'backup restore', 'backup check', 'backup forget', 'backup stats', 'backup config', 'backup test-connection', 'backup auto', 'backup health', 'backup metrics', 'snapshot-backup create', 'snapshot-backup emergency-restore']) {
      expect(names).toContain(expected);
    }
  });

  it('documents every command with a heading', () => {
    const missing = commands.filter((c) => !doc.includes(`### \`bolt-agent ${c.join(' ')}\``));
    expect(missing.map((c) => c.join(' '))).toEqual([]);
  });

  it('documents every option of every command', () => {
    const undocumented: string[] = [];
    const visit = (command: Command, prefix: string[]): void => {
      for (const sub of command.commands) {
        const p = [...prefix, sub.name()];
        for (const option of sub.options) {
          if (option.long && !doc.includes(option.long.replace(/^--no-/, '--'))) undocumented.push(`${p.join(' ')} ${option.long}`);
        }
        visit(sub, p);
      }
    };
    visit(buildProgram(), []);
    expect(undocumented).toEqual([]);
  });

  it('lists every exit code', () => {
    for (const code of [0, 1, 2, 3, 10, 11, 12, 13, 14]) expect(doc).toMatch(new RegExp(`\\| ${code} \\|`));
  });
});
