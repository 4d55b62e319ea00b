// uid/gid → name, from /etc/passwd and /etc/group (what restic's user lookup finds for local
// accounts). Read once per process; a missing id has no name.
import fs from 'node:fs';
import os from 'node:os';

function parse(file: string): Map<number, string> {
  const names = new Map<number, string>();
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return names;
  }
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && /^\d+$/.test(id) && !names.has(Number(id))) names.set(Number(id), name);
  }
  return names;
}

let users: Map<number, string> | undefined;
let groups: Map<number, string> | undefined;

export function userName(uid: number): string | undefined {
  users ??= parse('/etc/passwd');
  return users.get(uid);
}

export function groupName(gid: number): string | undefined {
  groups ??= parse('/etc/group');
  return groups.get(gid);
}

/** Every uid → name the walk can record (for the core's comparison of unchanged directories). */
export function userNames(): ReadonlyMap<number, string> {
  users ??= parse('/etc/passwd');
  return users;
}

export function groupNames(): ReadonlyMap<number, string> {
  groups ??= parse('/etc/group');
  return groups;
}

/** The name of the user running this process (as restic records it: looked up by uid). */
export function currentUserName(): string {
  const uid = process.getuid?.() ?? -1;
  const byUid = uid >= 0 ? userName(uid) : undefined;
  if (byUid) return byUid;
  try {
    return os.userInfo().username;
  } catch {
    return process.env['USER'] ?? '';
  }
}
