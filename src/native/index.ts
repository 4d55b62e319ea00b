// Chooses the compute core: the napi addon when it loads, otherwise the portable TS/WASM core.
// BOLT_AGENT_NATIVE=0 forces the portable core; BOLT_AGENT_NATIVE=1 makes a load failure fatal.
import type { Core } from './types.ts';

let chosen: Promise<Core> | undefined;
let nativeLoadError: Error | undefined;

async function loadNative(): Promise<Core> {
  const { createNativeCore } = await import('./native-core.ts');
  return createNativeCore();
}

async function loadPortable(): Promise<Core> {
  const { createPortableCore } = await import('./portable.ts');
  return createPortableCore();
}

async function choose(): Promise<Core> {
  const wanted = process.env['BOLT_AGENT_NATIVE'];
  if (wanted === '0') return loadPortable();
  try {
    return await loadNative();
  } catch (err) {
    nativeLoadError = err instanceof Error ? err : new Error(String(err));
    if (wanted === '1') throw nativeLoadError;
    return loadPortable();
  }
}

/** The process-wide core. */
export function getCore(): Promise<Core> {
  chosen ??= choose();
  return chosen;
}

/** Why the native core is not in use, when it is not. */
export function nativeUnavailableReason(): string | undefined {
  return nativeLoadError?.message;
}

/** Explicit constructors, for tests that run both implementations side by side. */
export const cores = { native: loadNative, portable: loadPortable } as const;
