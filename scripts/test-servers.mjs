#!/usr/bin/env node
// The storage servers the tests run against: MinIO (S3) and Azurite (Azure Blob) on 127.0.0.1.
//
//   node scripts/test-servers.mjs build   build MinIO once into the CI cache when it is missing
//                                         (GOBIN=<cache> go install <module>; several minutes cold)
//   node scripts/test-servers.mjs start   start both servers on free ports, print the BOLT_TEST_*
//                                         variables, keep running until Ctrl-C. Suites run in a shell
//                                         with those variables set use these servers instead of
//                                         starting their own.
//
// The vitest global setup (test/setup/global.ts) imports startMinio/startAzurite from here, so the
// servers are started the same way by hand and in tests. Plain JavaScript: Node 20 runs it as is.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CI_BIN = process.env.BOLT_CI_BIN ?? '/root/.cache/bolt-agent-ci/bin';
export const MINIO_BINARY = process.env.BOLT_MINIO_BINARY ?? path.join(CI_BIN, 'minio');
/** The MinIO server the project tests against (Go pseudo-version of github.com/minio/minio). */
export const MINIO_MODULE = 'github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c';

export const AZURITE_ACCOUNT = 'devstoreaccount1';
/** Azurite's well-known development key (public, documented by Microsoft). */
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `command` under a guardian shell that stops it once this process is gone, so an
 * interrupted test run never leaves servers behind on a shared machine.
 */
function spawnGuarded(command, args, env, dir, logFile) {
  const guardian = [
    '"$@" >"$BOLT_LOG" 2>&1 & child=$!',
    "trap 'kill $child 2>/dev/null; wait $child; exit 0' TERM INT",
    'while kill -0 "$BOLT_PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done',
    'kill $child 2>/dev/null; wait $child',
    // The parent died without stopping us: nobody else will remove the data folder.
    'kill -0 "$BOLT_PARENT" 2>/dev/null || rm -rf "$BOLT_DIR"',
  ].join('\n');
  return spawn('sh', ['-c', guardian, 'guardian', command, ...args], {
    env: { ...env, BOLT_PARENT: String(process.pid), BOLT_LOG: logFile, BOLT_DIR: dir },
    stdio: 'ignore',
  });
}

async function logTail(logFile) {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.split('\n').slice(-15).join('\n');
}

async function waitForHttp(url, child, logFile, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited early (code ${child.exitCode}):\n${await logTail(logFile)}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  throw new Error(`no answer from ${url} after ${timeoutMs} ms:\n${await logTail(logFile)}`);
}

async function stopGuarded(child, dir) {
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    await exited;
    clearTimeout(timer);
  }
  await rm(dir, { recursive: true, force: true });
}

export function minioMissingMessage() {
  return [
    `MinIO server binary not found at ${MINIO_BINARY}.`,
    '.ci/run builds it once and caches it; to do the same by hand (Go >= 1.24, several minutes cold):',
    `  node scripts/test-servers.mjs build      # runs: GOBIN=${CI_BIN} go install ${MINIO_MODULE}`,
    'or point BOLT_MINIO_BINARY at an existing minio binary.',
  ].join('\n');
}

/** Builds the MinIO server into CI_BIN when it is not there yet. */
export function buildMinio() {
  if (existsSync(MINIO_BINARY)) return { built: false, path: MINIO_BINARY };
  if (process.env.BOLT_MINIO_BINARY) throw new Error(`BOLT_MINIO_BINARY points at ${MINIO_BINARY}, which does not exist`);
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) throw new Error('building MinIO needs Go (>= 1.24) on PATH: https://go.dev/dl/');
  mkdirSync(CI_BIN, { recursive: true });
  const started = Date.now();
  const result = spawnSync('go', ['install', MINIO_MODULE], {
    env: { ...process.env, GOBIN: CI_BIN },
    stdio: 'inherit',
  });
  if (result.status !== 0 || !existsSync(MINIO_BINARY)) throw new Error(`go install ${MINIO_MODULE} failed (exit ${result.status})`);
  return { built: true, path: MINIO_BINARY, seconds: Math.round((Date.now() - started) / 1000) };
}

export async function startMinio() {
  if (!existsSync(MINIO_BINARY)) throw new Error(minioMissingMessage());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bolt-minio-'));
  const port = await freePort();
  const accessKey = 'bolt-test-access';
  const secretKey = 'bolt-test-secret-key';
  const log = path.join(dir, 'minio.log');
  const child = spawnGuarded(
    MINIO_BINARY,
    ['server', path.join(dir, 'data'), '--address', `127.0.0.1:${port}`, '--quiet'],
    {
      ...process.env,
      MINIO_ROOT_USER: accessKey,
      MINIO_ROOT_PASSWORD: secretKey,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      // A built-in KMS key, so server-side encryption (SSE-S3) can be tested.
      MINIO_KMS_SECRET_KEY: 'bolt-test-key:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
    },
    dir,
    log,
  );
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${endpoint}/minio/health/live`, child, log, 60_000);
  } catch (err) {
    await stopGuarded(child, dir);
    throw err;
  }
  return { endpoint, host: '127.0.0.1', port, accessKey, secretKey, region: 'us-east-1', stop: () => stopGuarded(child, dir) };
}

export async function startAzurite() {
  const bin = path.join(REPO_ROOT, 'node_modules/.bin/azurite-blob');
  if (!existsSync(bin)) throw new Error(`Azurite not found at ${bin}: run npm install (azurite is a devDependency)`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bolt-azurite-'));
  const port = await freePort();
  const log = path.join(dir, 'azurite.log');
  const child = spawnGuarded(
    bin,
    ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', path.join(dir, 'data'), '--skipApiVersionCheck', '--loose', '--disableTelemetry', '--silent'],
    process.env,
    dir,
    log,
  );
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  try {
    await waitForHttp(`${endpoint}?comp=list`, child, log, 60_000);
  } catch (err) {
    await stopGuarded(child, dir);
    throw err;
  }
  return {
    endpoint,
    host: '127.0.0.1',
    port,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`,
    stop: () => stopGuarded(child, dir),
  };
}

/** The variables through which suites and spawned processes find the servers. */
export function serverEnvironment(servers) {
  return {
    BOLT_TEST_S3_ENDPOINT: servers.s3.endpoint,
    BOLT_TEST_S3_ACCESS_KEY: servers.s3.accessKey,
    BOLT_TEST_S3_SECRET_KEY: servers.s3.secretKey,
    BOLT_TEST_S3_REGION: servers.s3.region,
    BOLT_TEST_AZURE_CONNECTION_STRING: servers.azure.connectionString,
    BOLT_TEST_AZURE_ENDPOINT: servers.azure.endpoint,
    BOLT_TEST_AZURE_ACCOUNT_NAME: servers.azure.accountName,
    BOLT_TEST_AZURE_ACCOUNT_KEY: servers.azure.accountKey,
  };
}

/** The servers described by the BOLT_TEST_* variables. */
export function serversFromEnvironment(env = process.env) {
  const need = (name) => {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set: run through vitest (test/setup/global.ts starts the servers) or scripts/test-servers.mjs start`);
    return value;
  };
  const s3 = new URL(need('BOLT_TEST_S3_ENDPOINT'));
  const azure = new URL(need('BOLT_TEST_AZURE_ENDPOINT'));
  return {
    s3: {
      endpoint: s3.origin,
      host: s3.hostname,
      port: Number(s3.port),
      accessKey: need('BOLT_TEST_S3_ACCESS_KEY'),
      secretKey: need('BOLT_TEST_S3_SECRET_KEY'),
      region: env.BOLT_TEST_S3_REGION ?? 'us-east-1',
    },
    azure: {
      endpoint: need('BOLT_TEST_AZURE_ENDPOINT'),
      host: azure.hostname,
      port: Number(azure.port),
      accountName: env.BOLT_TEST_AZURE_ACCOUNT_NAME ?? AZURITE_ACCOUNT,
      accountKey: env.BOLT_TEST_AZURE_ACCOUNT_KEY ?? AZURITE_KEY,
      connectionString: need('BOLT_TEST_AZURE_CONNECTION_STRING'),
    },
  };
}

async function main(command) {
  switch (command) {
    case 'build': {
      const result = buildMinio();
      console.log(result.built ? `built ${result.path} in ${result.seconds} s` : `${result.path} is already there`);
      return;
    }
    case 'start': {
      const build = buildMinio();
      if (build.built) console.error(`built ${build.path} in ${build.seconds} s`);
      const [minio, azurite] = await Promise.all([startMinio(), startAzurite()]);
      const env = serverEnvironment({ s3: minio, azure: azurite });
      for (const [name, value] of Object.entries(env)) console.log(`export ${name}='${value}'`);
      console.error('# MinIO and Azurite are running; paste the lines above into another shell. Ctrl-C stops them.');
      const stop = async () => {
        await Promise.all([minio.stop(), azurite.stop()]);
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await new Promise(() => undefined);
      return;
    }
    default:
      console.error('usage: node scripts/test-servers.mjs build | start');
      process.exit(2);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv[2]).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
