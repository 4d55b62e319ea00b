import { BUILT_IN_FORMATS } from '../formats/built-in.ts';
import { getCore, nativeUnavailableReason } from '../native/index.ts';

import { VERSION } from '../version.ts';

function runtimeName(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun) return `bun ${g.Bun.version}`;
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  return `node ${process.versions.node}`;
}

export async function versionLine(): Promise<{ text: string; json: Record<string, unknown> }> {
  const core = await getCore();
  const reason = nativeUnavailableReason();
  const json = {
    version: VERSION,
    formats: BUILT_IN_FORMATS,
    core: core.info.kind,
    core_features: core.info.features,
    runtime: runtimeName(),
    ...(reason ? { native_unavailable: reason } : {}),
  };
  const text = `bolt-agent ${VERSION} (formats: ${BUILT_IN_FORMATS.join(', ')}; core: ${core.info.kind}${
    core.info.features.length ? ` [${core.info.features.join(' ')}]` : ''
  }; ${json.runtime})`;
  return { text, json };
}
