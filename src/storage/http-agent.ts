// HTTP(S) agents for the SDKs: keep-alive, certificate settings, and an idle timeout on every
// socket (performance.timeout). An idle timeout, not a deadline: a slow but moving upload of a
// large object must not be cut off, a connection that stopped moving must.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

export interface TlsSettings {
  /** security.verify_certificates (false only when set explicitly). */
  verify: boolean;
  /** Extra trusted CAs (PEM) from security.ca_bundle, added to the system's roots. */
  extraCa?: string;
}

export interface AgentSettings {
  /** Close a socket on which nothing moved for this long. */
  idleTimeoutMs: number;
  tls: TlsSettings;
}

function armIdleTimeout(socket: Duplex | null | undefined, ms: number): void {
  if (!socket || !('setTimeout' in socket) || ms <= 0) return;
  const s = socket as Duplex & { setTimeout(ms: number): void };
  s.setTimeout(ms);
  s.on('timeout', () => {
    const err = Object.assign(new Error(`no data moved for ${ms} ms (performance.timeout)`), { code: 'ETIMEDOUT' });
    s.destroy(err);
  });
}

class IdleTimeoutHttpAgent extends http.Agent {
  constructor(private readonly idleMs: number, options: http.AgentOptions) {
    super(options);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    armIdleTimeout(socket, this.idleMs);
    return socket;
  }
}

class IdleTimeoutHttpsAgent extends https.Agent {
  constructor(private readonly idleMs: number, options: https.AgentOptions) {
    super(options);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    armIdleTimeout(socket, this.idleMs);
    return socket;
  }
}

export interface Agents {
  http: http.Agent;
  https: https.Agent;
}

export function createAgents(settings: AgentSettings): Agents {
  const common = { keepAlive: true };
  return {
    http: new IdleTimeoutHttpAgent(settings.idleTimeoutMs, common),
    https: new IdleTimeoutHttpsAgent(settings.idleTimeoutMs, {
      ...common,
      rejectUnauthorized: settings.tls.verify,
      // `ca` replaces the default roots, so a custom bundle is added to them rather than instead of them.
      ...(settings.tls.extraCa ? { ca: [...tls.rootCertificates, settings.tls.extraCa] } : {}),
    }),
  };
}

export function agentFor(agents: Agents, url: string): http.Agent {
  return url.startsWith('https:') ? agents.https : agents.http;
}
