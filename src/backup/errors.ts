// Typed errors. Every error a user can see is a BackupError with a kind (the requirements'
// BackupError variants plus ours), a message that says what to do, and an exit code
// (docs/CLI.md "Exit codes").

export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  partial: 3,
  repositoryNotFound: 10,
  wrongPassword: 11,
  locked: 12,
  storageAuth: 13,
  storageUnreachable: 14,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type BackupErrorKind =
  // the requirements' variants
  | 'RepositoryNotFound'
  | 'AuthenticationFailed'
  | 'StorageError'
  | 'ToolNotAvailable'
  | 'InvalidConfig'
  | 'OperationFailed'
  // ours
  | 'WrongPassword'
  | 'RepositoryLocked'
  | 'RepositoryExists'
  | 'CorruptData'
  | 'StorageUnreachable'
  | 'NotFound'
  | 'Usage'
  | 'NotImplemented'
  | 'Interrupted';

const exitCodeOfKind: Record<BackupErrorKind, ExitCodeValue> = {
  RepositoryNotFound: ExitCode.repositoryNotFound,
  AuthenticationFailed: ExitCode.storageAuth,
  StorageError: ExitCode.error,
  ToolNotAvailable: ExitCode.error,
  InvalidConfig: ExitCode.usage,
  OperationFailed: ExitCode.error,
  WrongPassword: ExitCode.wrongPassword,
  RepositoryLocked: ExitCode.locked,
  RepositoryExists: ExitCode.error,
  CorruptData: ExitCode.error,
  StorageUnreachable: ExitCode.storageUnreachable,
  NotFound: ExitCode.error,
  Usage: ExitCode.usage,
  NotImplemented: ExitCode.error,
  Interrupted: ExitCode.error,
};

export interface BackupErrorOptions {
  cause?: unknown;
  /** Machine-readable details for --json output (object id, path, key path, ...). */
  details?: Record<string, unknown>;
  /** A hint printed after the message: what the user can do about it. */
  hint?: string;
}

export class BackupError extends Error {
  readonly kind: BackupErrorKind;
  readonly details: Record<string, unknown>;
  readonly hint: string | undefined;

  constructor(kind: BackupErrorKind, message: string, options: BackupErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BackupError';
    this.kind = kind;
    this.details = options.details ?? {};
    this.hint = options.hint;
  }

  get exitCode(): ExitCodeValue {
    return exitCodeOfKind[this.kind];
  }

  toJSON(): Record<string, unknown> {
    return {
      error: this.kind,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      exit_code: this.exitCode,
      ...(Object.keys(this.details).length ? { details: this.details } : {}),
    };
  }
}

export class RepositoryNotFoundError extends BackupError {
  constructor(location: string, options: BackupErrorOptions = {}) {
    super('RepositoryNotFound', `repository not found at ${location}`, {
      hint: 'check the repository location, or create one with `bolt-agent backup init`',
      ...options,
    });
  }
}

export class WrongPasswordError extends BackupError {
  constructor(location: string, options: BackupErrorOptions = {}) {
    super('WrongPassword', `wrong password or no key found for ${location}`, {
      hint: 'check --password-file / password_file (trailing whitespace in the file is ignored)',
      ...options,
    });
  }
}

export class RepositoryLockedError extends BackupError {
  constructor(location: string, holder: string, options: BackupErrorOptions = {}) {
    super('RepositoryLocked', `repository ${location} is locked: ${holder}`, {
      hint: 'wait for the other operation to finish; a stale lock (holder dead or older than 30 min) is removed automatically',
      ...options,
    });
  }
}

export class InvalidConfigError extends BackupError {
  constructor(message: string, options: BackupErrorOptions = {}) {
    super('InvalidConfig', message, options);
  }
}

export class NotImplementedError extends BackupError {
  constructor(what: string) {
    super('NotImplemented', `not implemented yet: ${what}`);
  }
}

export class CorruptDataError extends BackupError {
  constructor(message: string, options: BackupErrorOptions = {}) {
    super('CorruptData', message, options);
  }
}

export class StorageError extends BackupError {
  constructor(message: string, options: BackupErrorOptions = {}) {
    super('StorageError', message, options);
  }
}

/** Turns anything thrown into a BackupError (unknown errors become OperationFailed). */
export function asBackupError(err: unknown): BackupError {
  if (err instanceof BackupError) return err;
  if (err instanceof Error) {
    return new BackupError('OperationFailed', err.message, { cause: err });
  }
  return new BackupError('OperationFailed', String(err));
}
