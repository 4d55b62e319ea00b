// A fault-injecting TCP proxy for HTTP/1.1 on loopback, between a storage client and MinIO or
// Azurite. It parses request heads (to count requests and aim faults at some of them) and
// forwards bytes unchanged otherwise, so signatures stay valid. Each fault fires a bounded number
// of times and then the proxy passes traffic through: it stops by itself.
import net from 'node:net';
import tls from 'node:tls';

export interface RequestHead {
  method: string;
  path: string;
  headers: Record<string, string>;
}

export type Match = (request: RequestHead) => boolean;

export interface Fault {
  /** How many matching requests this fault hits. */
  count: number;
  match?: Match;
}

export interface FaultPlan {
  /** Answer with 503 SlowDown (S3/Azure-style XML error) and close the connection. */
  unavailable?: Fault;
  /** Forward the head and `afterBytes` of the request body, then cut both connections. */
  dropUpload?: Fault & { afterBytes: number };
  /** Forward the request, then cut both connections after `afterBytes` of the response. */
  dropDownload?: Fault & { afterBytes: number };
  /** Hold the request for `ms` before forwarding it. */
  delay?: Fault & { ms: number };
  /** Swallow the request and never answer (the client must time out). */
  hang?: Fault;
  /** Bytes per second client → server, over all connections together. */
  uploadRate?: number;
  /** Bytes per second server → client, over all connections together. */
  downloadRate?: number;
}

export interface ProxyStats {
  connections: number;
  requests: number;
  byMethod: Record<string, number>;
  injected: { unavailable: number; dropUpload: number; dropDownload: number; delay: number; hang: number };
  bytesUp: number;
  bytesDown: number;
}

type FaultName = keyof ProxyStats['injected'];

const slowDownBody =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate (fault proxy).</Message><RequestId>fault-proxy</RequestId></Error>';

/** Paces bytes in one direction over all connections: each chunk books the next free slot on a shared clock. */
class Pacer {
  private nextFree = 0;
  constructor(private readonly rate: number) {}

  /** Milliseconds the sender should pause after sending `bytes`. */
  book(bytes: number): number {
    const now = performance.now();
    const start = Math.max(now, this.nextFree);
    this.nextFree = start + (bytes / this.rate) * 1000;
    return Math.max(0, this.nextFree - now);
  }
}

export class FaultProxy {
  readonly stats: ProxyStats = {
    connections: 0,
    requests: 0,
    byMethod: {},
    injected: { unavailable: 0, dropUpload: 0, dropDownload: 0, delay: 0, hang: 0 },
    bytesUp: 0,
    bytesDown: 0,
  };
  private plan: FaultPlan = {};
  private remaining: Record<FaultName, number> = { unavailable: 0, dropUpload: 0, dropDownload: 0, delay: 0, hang: 0 };
  private upPacer: Pacer | undefined;
  private downPacer: Pacer | undefined;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly protocol: 'http' | 'https',
  ) {}

  /** Starts a proxy on 127.0.0.1 in front of target; with `tlsOptions` it terminates TLS (for certificate tests). */
  static async start(target: { host: string; port: number }, plan: FaultPlan = {}, tlsOptions?: tls.TlsOptions): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const onClient = (client: net.Socket): void => proxy?.accept(client, target);
    const server = tlsOptions ? tls.createServer(tlsOptions, onClient) : net.createServer(onClient);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    proxy = new FaultProxy(server, port, tlsOptions ? 'https' : 'http');
    proxy.setPlan(plan);
    return proxy;
  }

  get endpoint(): string {
    return `${this.protocol}://127.0.0.1:${this.port}`;
  }

  /** Replaces the plan and its counters (the statistics keep counting). */
  setPlan(plan: FaultPlan): void {
    this.plan = plan;
    this.remaining = {
      unavailable: plan.unavailable?.count ?? 0,
      dropUpload: plan.dropUpload?.count ?? 0,
      dropDownload: plan.dropDownload?.count ?? 0,
      delay: plan.delay?.count ?? 0,
      hang: plan.hang?.count ?? 0,
    };
    this.upPacer = plan.uploadRate ? new Pacer(plan.uploadRate) : undefined;
    this.downPacer = plan.downloadRate ? new Pacer(plan.downloadRate) : undefined;
  }

  resetStats(): void {
    this.stats.connections = 0;
    this.stats.requests = 0;
    this.stats.byMethod = {};
    this.stats.injected = { unavailable: 0, dropUpload: 0, dropDownload: 0, delay: 0, hang: 0 };
    this.stats.bytesUp = 0;
    this.stats.bytesDown = 0;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The first fault whose budget is left and whose filter matches, consuming one of its budget. */
  private takeFault(request: RequestHead): FaultName | undefined {
    for (const name of ['unavailable', 'hang', 'dropUpload', 'dropDownload', 'delay'] as const) {
      const fault = this.plan[name];
      if (!fault || this.remaining[name] <= 0) continue;
      if (fault.match && !fault.match(request)) continue;
      this.remaining[name]--;
      this.stats.injected[name]++;
      return name;
    }
    return undefined;
  }

  private accept(client: net.Socket, target: { host: string; port: number }): void {
    this.stats.connections++;
    const upstream = net.connect(target.port, target.host);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const cut = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', () => {
      this.sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.end();
    });
    client.on('error', cut);
    upstream.on('error', cut);

    let mode: 'head' | 'body' | 'opaque' | 'swallow' = 'head';
    let head = Buffer.alloc(0);
    let bodyLeft = 0;
    let dropAfter: number | undefined;
    let bodySent = 0;
    let downloadCutAt: number | undefined;
    let downloaded = 0;
    let heldUntil = 0;
    const held: Buffer[] = [];

    const send = (bytes: Buffer): void => {
      if (!bytes.byteLength) return;
      this.stats.bytesUp += bytes.byteLength;
      if (Date.now() < heldUntil) {
        held.push(bytes);
        return;
      }
      const full = !upstream.write(bytes);
      const pause = this.upPacer?.book(bytes.byteLength) ?? 0;
      if (full || pause > 0) {
        client.pause();
        Promise.all([full ? new Promise((r) => upstream.once('drain', r)) : undefined, pause > 0 ? sleep(pause) : undefined]).then(() => client.resume());
      }
    };

    const onHead = (text: string): 'stop' | 'go' => {
      const [requestLine = '', ...lines] = text.split('\r\n');
      const [method = '', path = ''] = requestLine.split(' ');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const at = line.indexOf(':');
        if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      this.stats.requests++;
      this.stats.byMethod[method] = (this.stats.byMethod[method] ?? 0) + 1;
      const fault = this.takeFault({ method, path, headers });
      if (fault === 'unavailable') {
        client.end(
          `HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(slowDownBody)}\r\nConnection: close\r\n\r\n${slowDownBody}`,
        );
        upstream.destroy();
        mode = 'swallow';
        return 'stop';
      }
      if (fault === 'hang') {
        mode = 'swallow';
        return 'stop';
      }
      if (fault === 'dropUpload') {
        dropAfter = this.plan.dropUpload?.afterBytes ?? 0;
        bodySent = 0;
      }
      if (fault === 'dropDownload') {
        downloadCutAt = this.plan.dropDownload?.afterBytes ?? 0;
        downloaded = 0;
      }
      if (fault === 'delay') {
        heldUntil = Date.now() + (this.plan.delay?.ms ?? 0);
        setTimeout(() => {
          heldUntil = 0;
          for (const bytes of held.splice(0)) upstream.write(bytes);
        }, this.plan.delay?.ms ?? 0);
      }
      if (headers['transfer-encoding']) {
        mode = 'opaque';
      } else {
        bodyLeft = Number(headers['content-length'] ?? 0);
        mode = bodyLeft > 0 ? 'body' : 'head';
      }
      return 'go';
    };

    client.on('data', (data: Buffer) => {
      let chunk = data;
      while (chunk.byteLength > 0) {
        switch (mode) {
          case 'swallow':
            return;
          case 'opaque':
            send(chunk);
            return;
          case 'head': {
            head = Buffer.concat([head, chunk]);
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) {
              if (head.byteLength > 64 * 1024) {
                mode = 'opaque';
                send(head);
              }
              return;
            }
            const headBytes = head.subarray(0, end + 4);
            chunk = head.subarray(end + 4);
            head = Buffer.alloc(0);
            if (onHead(headBytes.toString('latin1')) === 'stop') return;
            send(headBytes);
            break;
          }
          case 'body': {
            const n = Math.min(bodyLeft, chunk.byteLength);
            let piece = chunk.subarray(0, n);
            chunk = chunk.subarray(n);
            if (dropAfter !== undefined && bodySent + piece.byteLength >= dropAfter) {
              piece = piece.subarray(0, Math.max(0, dropAfter - bodySent));
              send(piece);
              // Let the partial body reach the server before the connection dies.
              setImmediate(cut);
              mode = 'swallow';
              return;
            }
            bodySent += piece.byteLength;
            send(piece);
            bodyLeft -= n;
            if (bodyLeft === 0) {
              mode = 'head';
              dropAfter = undefined;
            }
            break;
          }
        }
      }
    });

    let cutting = false;
    upstream.on('data', (data: Buffer) => {
      // Nothing may follow the cut, or the client would see a hole instead of a break.
      if (cutting) return;
      let bytes = data;
      if (downloadCutAt !== undefined) {
        if (downloaded + bytes.byteLength >= downloadCutAt) {
          bytes = bytes.subarray(0, Math.max(0, downloadCutAt - downloaded));
          if (bytes.byteLength) client.write(bytes);
          this.stats.bytesDown += bytes.byteLength;
          cutting = true;
          setImmediate(cut);
          return;
        }
        downloaded += bytes.byteLength;
      }
      this.stats.bytesDown += bytes.byteLength;
      const full = !client.write(bytes);
      const pause = this.downPacer?.book(bytes.byteLength) ?? 0;
      if (full || pause > 0) {
        upstream.pause();
        Promise.all([full ? new Promise((r) => client.once('drain', r)) : undefined, pause > 0 ? sleep(pause) : undefined]).then(() => upstream.resume());
      }
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
