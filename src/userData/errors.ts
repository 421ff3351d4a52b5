// Errors the per-user data services raise; the routes turn them into Matrix errors with the same status and code.
export class UserDataError extends Error {
  readonly status: number;
  readonly errcode: string;
  constructor(status: number, errcode: string, message: string) {
    super(message);
    this.status = status;
    this.errcode = errcode;
  }
}

export const userDataForbidden = (message: string) => new UserDataError(403, 'M_FORBIDDEN', message);
export const userDataNotFound = (message: string) => new UserDataError(404, 'M_NOT_FOUND', message);
export const userDataInvalidParam = (message: string) => new UserDataError(400, 'M_INVALID_PARAM', message);
export const userDataBadJson = (message: string) => new UserDataError(400, 'M_BAD_JSON', message);
