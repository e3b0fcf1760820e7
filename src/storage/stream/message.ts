/** The StreamMessage both backends hand to handlers. */
import { FlywheelError } from "../../core/errors.js";
import type { StreamMessage } from "./stream-bus.js";

const decoder = new TextDecoder();

export class DeliveredMessage implements StreamMessage {
  constructor(
    readonly stream: string,
    readonly subject: string,
    readonly seq: number,
    readonly data: Uint8Array,
    readonly msgId: string | undefined,
    readonly deliveryCount: number,
    readonly publishedAt: number,
  ) {}

  text(): string {
    return decoder.decode(this.data);
  }

  json<T = unknown>(): T {
    try {
      return JSON.parse(this.text()) as T;
    } catch (e) {
      throw new FlywheelError(
        "FW_REQUEST_INVALID_FIELD",
        `Message ${this.seq} on '${this.subject}' (stream '${this.stream}') is not valid JSON: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
}
