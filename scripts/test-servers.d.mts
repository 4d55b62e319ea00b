// Types of scripts/test-servers.mjs for the TypeScript test setup (the script itself is plain
// JavaScript so that Node 20 can run it without a build step).

export declare const REPO_ROOT: string;
export declare const CI_BIN: string;
export declare const MINIO_BINARY: string;
export declare const MINIO_MODULE: string;
export declare const AZURITE_ACCOUNT: string;
export declare const AZURITE_KEY: string;

export interface S3Server {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  host: string;
  port: number;
  accessKey: string;
  secretKey: string;
  region: string;
}

export interface AzureServer {
  /** Blob service URL including the account: http://127.0.0.1:<port>/devstoreaccount1 */
  endpoint: string;
  host: string;
  port: number;
  accountName: string;
  accountKey: string;
  connectionString: string;
}

export interface TestServers {
  s3: S3Server;
  azure: AzureServer;
}

export interface RunningServer {
  stop(): Promise<void>;
}

export declare function freePort(): Promise<number>;
export declare function minioMissingMessage(): string;
export declare function buildMinio(): { built: boolean; path: string; seconds?: number };
export declare function startMinio(): Promise<S3Server & RunningServer>;
export declare function startAzurite(): Promise<AzureServer & RunningServer>;
export declare function serverEnvironment(servers: TestServers): Record<string, string>;
export declare function serversFromEnvironment(env?: NodeJS.ProcessEnv): TestServers;
