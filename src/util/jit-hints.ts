// JavaScriptCore (Bun) compiles a function that stays hot with its top tier (FTL) on a thread of
// its own. For the tree encoder of a restic backup that compilation cost more CPU than the
// function ever ran: writeNode ~190-270 ms, nodeFromEntry ~30-50 ms, writeRfc3339Nano ~30 ms of
// FTL compilation during a first backup, against ~70 ms for all of writeNode's calls. The
// compilation runs on the same two cores as the backup's hashing and compression; keeping these
// functions in the tier below (DFG) made a first backup 0.1-0.15 s shorter (0.2-0.3 CPU-s less),
// about as much as turning the top tier off for the whole process (BUN_JSC_useFTLJIT=0, which Bun only
// reads from the environment at start). Node and Deno: nothing to do.

interface BunJsc {
  noFTL?: (fn: (...args: never[]) => unknown) => unknown;
}

function bunJsc(): BunJsc | undefined {
  try {
    // Synchronous, so that functions are marked when their module loads, before they get hot.
    return (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.('bun:jsc') as BunJsc | undefined;
  } catch {
    return undefined;
  }
}

/** Keeps `functions` out of JavaScriptCore's top tier (see above); a no-op elsewhere. */
export function keepOutOfTopTier(...functions: ((...args: never[]) => unknown)[]): void {
  const noFTL = bunJsc()?.noFTL;
  if (typeof noFTL !== 'function') return;
  for (const fn of functions) noFTL(fn);
}
