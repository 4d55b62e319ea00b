// `bolt-agent backup test-connection`: walks from the repository string to a written, read and
// deleted probe object, one step at a time, and stops at the first failing step with a result
// code per failure class (unreachable 14, credentials 13, bucket/container/folder missing 10,
// anything else 1). Every step carries its duration for -v.
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { asBackupError, BackupError, ExitCode, type ExitCodeValue } from '../backup/errors.ts';
import type { BackupConfig } from '../config/schema.ts';
import { parseDuration } from '../config/units.ts';
import { StorageRequestError } from './errors.ts';
import { openBackend, type OpenedStorage } from './open-storage.ts';
import type { Storage } from './storage.ts';

export type ConnectionOutcome = 'ok' | 'invalid-config' | 'unreachable' | 'auth' | 'not-found' | 'io';

export type ConnectionStepName = 'configure' | 'resolve' | 'connect' | 'authenticate' | 'write' | 'read' | 'delete' | 'latency' | 'repository';

export interface ConnectionStep {
  step: ConnectionStepName;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface ConnectionTestResult {
  ok: boolean;
  outcome: ConnectionOutcome;
  exitCode: ExitCodeValue;
  /** The repository location with secrets removed; the string as given when it could not be parsed. */
  location: string;
  backend: Storage['kind'] | undefined;
  steps: ConnectionStep[];
  /** Median of three small requests (stat), once the storage answered. */
  latencyMs: number | undefined;
  error: BackupError | undefined;
}

export interface TestConnectionOptions {
  baseDir?: string;
  env?: NodeJS.ProcessEnv;
  onWarning?: (message: string) => void;
}

const exitOf: Record<ConnectionOutcome, ExitCodeValue> = {
  ok: ExitCode.ok,
  'invalid-config': ExitCode.usage,
  unreachable: ExitCode.storageUnreachable,
  auth: ExitCode.storageAuth,
  'not-found': ExitCode.repositoryNotFound,
  io: ExitCode.error,
};

function outcomeOf(error: BackupError): ConnectionOutcome {
  switch (error.kind) {
    case 'InvalidConfig':
      return 'invalid-config';
    case 'StorageUnreachable':
      return 'unreachable';
    case 'AuthenticationFailed':
      return 'auth';
    case 'RepositoryNotFound':
      return 'not-found';
    default:
      return 'io';
  }
}

class StepFailed extends Error {
  constructor(readonly error: BackupError) {
    super(error.message);
  }
}

export async function testConnection(repository: string, config: BackupConfig, options: TestConnectionOptions = {}): Promise<ConnectionTestResult> {
  const steps: ConnectionStep[] = [];
  const result: ConnectionTestResult = {
    ok: false,
    outcome: 'io',
    exitCode: ExitCode.error,
    location: repository,
    backend: undefined,
    steps,
    latencyMs: undefined,
    error: undefined,
  };
  const timeoutMs = parseDuration(config.performance?.timeout ?? '60s') ?? 60_000;

  async function step<T>(name: ConnectionStepName, run: () => Promise<{ value: T; detail: string }>): Promise<T> {
    const started = performance.now();
    try {
      const { value, detail } = await run();
      steps.push({ step: name, ok: true, ms: elapsed(started), detail });
      return value;
    } catch (raw) {
      const error = raw instanceof StepFailed ? raw.error : asBackupError(raw);
      steps.push({ step: name, ok: false, ms: elapsed(started), detail: error.message });
      throw new StepFailed(error);
    }
  }

  let opened: OpenedStorage | undefined;
  try {
    // A diagnosis shows the state as it is: no retries that could hide a flaky link.
    opened = await step('configure', async () => {
      const value = await openBackend(repository, config, { ...options, retry: { retries: 0 } });
      return { value, detail: `${value.storage.kind} storage at ${value.storage.location}` };
    });
    const { storage, target } = opened;
    result.location = storage.location;
    result.backend = storage.kind;

    if (storage.kind !== 'local') {
      const url = new URL(target.endpoint);
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      const address = await step('resolve', async () => {
        try {
          const found = await lookup(host);
          return { value: found.address, detail: `${host} is ${found.address}` };
        } catch (err) {
          throw new StorageRequestError(target, 'resolve', undefined, { failure: 'unreachable', code: (err as { code?: string }).code ?? 'ENOTFOUND', reason: `cannot resolve ${host}`, cause: err });
        }
      });
      await step('connect', async () => {
        await tcpConnect(address, port, Math.min(timeoutMs, 10_000)).catch((err: unknown) => {
          throw new StorageRequestError(target, 'connect', undefined, { failure: 'unreachable', code: (err as { code?: string }).code ?? 'ETIMEDOUT', reason: `cannot connect to ${address}:${port}: ${(err as Error).message}`, cause: err });
        });
        return { value: undefined, detail: `TCP connection to ${address}:${port}` };
      });
    }

    const checked = opened;
    await step('authenticate', async () => {
      await checked.checkContainer();
      return { value: undefined, detail: storage.kind === 'local' ? `folder ${target.endpoint} exists` : `credentials accepted, ${target.kind === 'azure' ? 'container' : 'bucket'} "${target.container}" exists` };
    });

    // A leading dot: never mistaken for a repository object, never listed by the local backend.
    const probe = `.bolt-agent-probe-${randomBytes(8).toString('hex')}`;
    const bytes = randomBytes(64 * 1024);
    await step('write', async () => {
      await storage.put(probe, bytes);
      return { value: undefined, detail: `wrote ${bytes.byteLength} bytes to ${probe}` };
    });
    try {
      await step('read', async () => {
        const back = await storage.get(probe);
        if (!back.equals(bytes)) {
          throw new BackupError('CorruptData', `the probe object read back differs from what was written (${back.byteLength} of ${bytes.byteLength} bytes)`);
        }
        return { value: undefined, detail: `read ${back.byteLength} identical bytes back` };
      });
    } finally {
      await step('delete', async () => {
        await storage.delete(probe);
        if (await storage.stat(probe)) throw new BackupError('StorageError', `the probe object ${probe} is still there after deleting it`);
        return { value: undefined, detail: `deleted ${probe}` };
      });
    }

    result.latencyMs = await step('latency', async () => {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await storage.stat(probe);
        times.push(elapsed(started));
      }
      const median = times.sort((a, b) => a - b)[1] ?? 0;
      return { value: median, detail: `median of 3 requests: ${median.toFixed(1)} ms` };
    });

    await step('repository', async () => {
      const found = await storage.stat('config');
      return { value: undefined, detail: found ? 'a repository is here (config found)' : 'no repository here yet: `bolt-agent backup init` creates one' };
    });
    result.ok = true;
    result.outcome = 'ok';
    result.exitCode = ExitCode.ok;
  } catch (err) {
    if (!(err instanceof StepFailed)) throw err;
    result.error = err.error;
    result.outcome = outcomeOf(err.error);
    result.exitCode = exitOf[result.outcome];
  } finally {
    await opened?.storage.close();
  }
  return result;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(timeoutMs, () => socket.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}
