/**
 * The error the inference APIs answer with: a status (400 for a request the model cannot take,
 * 404 for a model, version or alias that does not exist) and a message that says what was expected.
 */
export type ServingErrorStatus = 400 | 404 | 500;

export class ServingError extends Error {
  override readonly name = "ServingError";
  constructor(
    readonly status: ServingErrorStatus,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A 400: the request is well-formed JSON but the model cannot take it. */
export function badRequest(message: string): ServingError {
  return new ServingError(400, message);
}
