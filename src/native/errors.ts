import type { CoreErrorCode, CoreErrorInfo } from './types.ts';

/** An error from the compute core (native or portable), with the file or object it is about. */
export class CoreError extends Error {
  readonly code: CoreErrorCode;
  readonly subject: string | undefined;

  constructor(code: CoreErrorCode, message: string, subject?: string) {
    super(message);
    this.name = 'CoreError';
    this.code = code;
    this.subject = subject;
  }

  static from(info: CoreErrorInfo): CoreError {
    return new CoreError(info.code, info.message, info.subject);
  }

  toInfo(): CoreErrorInfo {
    return { code: this.code, message: this.message, ...(this.subject === undefined ? {} : { subject: this.subject }) };
  }
}
