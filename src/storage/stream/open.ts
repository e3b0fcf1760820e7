/** Opens the stream bus a URI names: `memory:` (in-process, the embedded default) or `nats://` (JetStream). */
import { UriRegistry } from "../../core/uri-registry.js";
import type { StreamBus, StreamBusOptions } from "./stream-bus.js";

const registry = new UriRegistry<StreamBus, StreamBusOptions>("stream bus")
  .register("memory", async (uri, options) => {
    const { MemoryStreamBus } = await import("./memory/memory-stream-bus.js");
    return MemoryStreamBus.open(uri, options.logger);
  })
  .register("nats", async (uri, options) => {
    const { NatsStreamBus } = await import("./nats/nats-stream-bus.js");
    return NatsStreamBus.open(uri, options.logger);
  });

/**
 * @example const bus = await openStreamBus("nats://127.0.0.1:4222");
 */
export function openStreamBus(uri: string, options: StreamBusOptions = {}): Promise<StreamBus> {
  return registry.open(uri, options);
}

export const STREAM_SCHEMES = registry.schemes();
