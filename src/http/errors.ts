// Matrix errors: `{ errcode, error }` with the status the spec gives. Handlers throw these; the app's error
// handler turns them, and everything else, into a Matrix error response.
export class MatrixError extends Error {
  readonly status: number;
  readonly errcode: string;
  readonly extra: Record<string, unknown>;

  constructor(status: number, errcode: string, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.errcode = errcode;
    this.extra = extra;
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const unrecognized = (message = 'Unrecognized request') => new MatrixError(404, 'M_UNRECOGNIZED', message);
export const notJson = (message = 'Content not JSON.') => new MatrixError(400, 'M_NOT_JSON', message);
export const badJson = (message: string) => new MatrixError(400, 'M_BAD_JSON', message);
export const tooLarge = (message = 'Request body too large') => new MatrixError(413, 'M_TOO_LARGE', message);
export const forbidden = (message: string) => new MatrixError(403, 'M_FORBIDDEN', message);
export const notFound = (message: string) => new MatrixError(404, 'M_NOT_FOUND', message);
export const invalidParam = (message: string) => new MatrixError(400, 'M_INVALID_PARAM', message);
export const missingParam = (message: string) => new MatrixError(400, 'M_MISSING_PARAM', message);
