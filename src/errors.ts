// User errors are values with a location and a hint; the CLI prints them without a stack trace.
// Programming errors are plain Errors and crash loudly.

export type Located = { file: string; line: number; col: number };

/** A mistake in hooks.yaml (or a file it names). */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    message: string,
    readonly at: Located | undefined,
    /** Dotted path of the offending key, e.g. hooks.welcome.methods[1]. */
    readonly path: string | undefined,
    readonly hint?: string,
  ) {
    super(message);
  }

  /** `file:line:col: path: message` then `  hint: ...`. */
  format(): string {
    const where = this.at ? `${this.at.file}:${this.at.line}:${this.at.col}: ` : "";
    const path = this.path ? `${this.path}: ` : "";
    return `${where}${path}${this.message}${this.hint ? `\n  hint: ${this.hint}` : ""}`;
  }
}

/** Several config errors found in one pass; the loader reports all of them. */
export class ConfigErrors extends Error {
  override readonly name = "ConfigErrors";
  constructor(readonly errors: ConfigError[]) {
    super(errors.map((e) => e.format()).join("\n"));
  }
}

/** Any other mistake a user can make on the command line (missing file, bad flag, no jsonnet on PATH). */
export class UsageError extends Error {
  override readonly name = "UsageError";
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

/** An error at the HTTP edge: status + a JSON body that names the field. The one error type of the server. */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    /** The answer's body when it is not `body()`: Kratos's `messages` (src/kratos/responses.ts). */
    readonly bodyText?: string,
  ) {
    super(message);
  }
  body(): { error: { code: string; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}
