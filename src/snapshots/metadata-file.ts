/** The file beside the snapshots bolt-agent keeps (snapshot-backup, safety) that says what they are. */
export const SNAPSHOT_METADATA = 'bolt-agent.json';
