/**
 * A problem the user can fix: the CLI prints its message as one line and exits non-zero,
 * without a stack trace. Anything else that escapes is a bug in rnn-train.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
