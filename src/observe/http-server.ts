// The daemon's HTTP endpoints: GET /metrics (Prometheus text format) and GET /healthz (the health
// report as JSON; 200 when healthy, 503 when not, as load balancers and probes expect).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BackupError } from '../backup/errors.ts';
import type { HealthReport } from './health.ts';

export interface ListenAddress {
  host: string;
  port: number;
}

/** "127.0.0.1:9469", "[::1]:9469", "localhost:0"; "off" → undefined (no server). */
export function parseListen(text: string): ListenAddress | undefined {
  if (text === 'off' || text === 'none') return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new BackupError('Usage', `--listen: expected host:port, [ipv6]:port or "off" (got "${text}")`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export interface Endpoints {
  metrics(): Promise<{ contentType: string; body: string }>;
  health(): HealthReport;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export function startHttpServer(address: ListenAddress, endpoints: Endpoints): Promise<RunningServer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url.pathname === '/metrics') {
      endpoints.metrics().then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`),
      );
      return;
    }
    if (url.pathname === '/healthz') {
      const report = endpoints.health();
      res.writeHead(report.healthy ? 200 : 503, { 'content-type': 'application/json' }).end(req.method === 'HEAD' ? undefined : `${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new BackupError('Usage', `cannot listen on ${address.host}:${address.port}: ${err.code ?? err.message}`, { hint: 'choose another address with --listen, or --listen off' })),
    );
    server.listen(address.port, address.host, () => {
      const bound = server.address() as AddressInfo;
      const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
      resolve({
        url: `http://${host}:${bound.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
