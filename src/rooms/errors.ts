// Why a room operation failed, in Matrix terms; the HTTP layer turns these into Matrix errors as they are.
export class RoomError extends Error {
  readonly status: number;
  readonly errcode: string;

  constructor(status: number, errcode: string, message: string) {
    super(message);
    this.name = 'RoomError';
    this.status = status;
    this.errcode = errcode;
  }
}

export const roomForbidden = (message: string) => new RoomError(403, 'M_FORBIDDEN', message);
export const roomNotFound = (message: string) => new RoomError(404, 'M_NOT_FOUND', message);
export const eventTooLarge = (message: string) => new RoomError(413, 'M_TOO_LARGE', message);
export const roomBadJson = (message: string) => new RoomError(400, 'M_BAD_JSON', message);
export const roomInvalidParam = (message: string) => new RoomError(400, 'M_INVALID_PARAM', message);
