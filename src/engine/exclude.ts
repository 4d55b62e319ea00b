// Exclusion of paths from a backup: glob patterns (globset-style `*`, `**`, `?`, `[abc]`,
// `[!abc]`, `{a,b}`) and plain paths (the path and everything below it).
//
// Pattern semantics (as restic users expect): a pattern without "/" matches an entry's name at
// any depth ("*.tmp"); a pattern starting with "/" is anchored at the filesystem root
// ("/var/cache/*"); any other pattern matches a trailing part of the path ("cache/*.bin"
// excludes /a/cache/x.bin). "**" spans any number of path components.

export interface ExcludeRules {
  patterns: readonly string[];
  paths: readonly string[];
}

function escapeRegex(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

/** Translates one glob to a regular expression source (without anchors). */
export function globToRegexSource(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? '';
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const before = i === 0 || glob[i - 1] === '/';
        const after = i + 2 === glob.length || glob[i + 2] === '/';
        if (before && after) {
          // "**/" matches zero or more whole components; a trailing "**" matches the rest.
          if (i + 2 === glob.length) out += '.*';
          else {
            out += '(?:.*/)?';
            i += 1; // the following "/" is part of the group
          }
          i += 1;
          continue;
        }
        out += '[^/]*';
        i += 1;
        continue;
      }
      out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let cls = glob.slice(i + 1, end);
      if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      out += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) {
        out += '\\{';
        continue;
      }
      out += `(?:${glob
        .slice(i + 1, end)
        .split(',')
        .map((alt) => globToRegexSource(alt))
        .join('|')})`;
      i = end;
    } else out += escapeRegex(c);
  }
  return out;
}

export class ExcludeMatcher {
  private readonly regexes: { pattern: string; regex: RegExp }[];
  private readonly paths: string[];

  constructor(rules: ExcludeRules) {
    this.regexes = rules.patterns.map((p) => {
      const pattern = p.endsWith('/') && p.length > 1 ? p.slice(0, -1) : p;
      const source = globToRegexSource(pattern);
      const regex = pattern.startsWith('/') ? new RegExp(`^${source}$`, 's') : new RegExp(`(?:^|/)${source}$`, 's');
      return { pattern: p, regex };
    });
    this.paths = rules.paths.map((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p));
  }

  get empty(): boolean {
    return this.regexes.length === 0 && this.paths.length === 0;
  }

  /**
   * Whether an entry of the directory `dir` may be excluded: patterns may match any name; a path
   * excludes an entry of its own parent directory, and everything below it (a backup target can
   * lie below an excluded path).
   */
  mayExcludeIn(dir: string): boolean {
    if (this.regexes.length > 0) return true;
    this.parents ??= new Set(this.paths.filter((p) => p !== '/').map((p) => p.slice(0, p.lastIndexOf('/')) || '/'));
    return this.parents.has(dir) || this.excludes(dir);
  }

  private parents: Set<string> | undefined;

  /** True when `absolutePath` (or a parent, for plain paths) is excluded. */
  excludes(absolutePath: string): boolean {
    for (const p of this.paths) {
      if (absolutePath === p || absolutePath.startsWith(p === '/' ? p : `${p}/`)) return true;
    }
    for (const r of this.regexes) if (r.regex.test(absolutePath)) return true;
    return false;
  }

  /** Why a path is excluded (for `create --dry-run`). */
  reason(absolutePath: string): string | undefined {
    for (const p of this.paths) {
      if (absolutePath === p || absolutePath.startsWith(p === '/' ? p : `${p}/`)) return `below excluded path ${p}`;
    }
    for (const r of this.regexes) if (r.regex.test(absolutePath)) return `matches exclude pattern "${r.pattern}"`;
    return undefined;
  }
}
