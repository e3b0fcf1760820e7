/**
 * The stream-bus backends a shared suite runs against. The in-process bus always; NATS JetStream
 * when FLYWHEEL_TEST_NATS_URL is set. Each case gets a unique name prefix for its streams, and
 * its cleanup deletes every stream with that prefix. With FLYWHEEL_REQUIRE_SERVICES=1 a missing
 * URL fails instead of skipping.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { randomToken } from "../../src/core/ids.js";
import { discardMemoryBroker } from "../../src/storage/stream/memory/memory-stream-bus.js";
import { serviceUrl } from "./backends.js";

export interface StreamBackendCase {
  name: "memory" | "nats";
  /** Why this backend is skipped, or undefined when it runs. */
  skip: string | undefined;
  /**
   * A bus URI and a prefix to start every stream name and subject with (letters, digits, '_');
   * `drop` deletes whatever was made under the prefix.
   */
  create(): Promise<{ uri: string; prefix: string; drop(): Promise<void> }>;
}

export const memoryStreamBackend: StreamBackendCase = {
  name: "memory",
  skip: undefined,
  async create() {
    const prefix = `fw_test_${randomToken(6)}`;
    return { uri: `memory://${prefix}`, prefix, drop: async () => discardMemoryBroker(prefix) };
  },
};

const natsEnv = serviceUrl("FLYWHEEL_TEST_NATS_URL", "NATS JetStream");

/** Deletes every stream whose name starts with `prefix` on the NATS server at `uri`. */
export async function dropNatsStreams(uri: string, prefix: string): Promise<void> {
  const nc = await connect({ servers: uri.replace(/^nats:\/\//, "").split(","), timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) if (name.startsWith(prefix)) names.push(name);
    for (const name of names) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}

export const natsStreamBackend: StreamBackendCase = {
  name: "nats",
  skip: natsEnv.skip,
  async create() {
    const uri = natsEnv.value as string;
    const prefix = `fw_test_${randomToken(6)}`;
    return { uri, prefix, drop: () => dropNatsStreams(uri, prefix) };
  },
};

export const streamBackends: StreamBackendCase[] = [memoryStreamBackend, natsStreamBackend];

/** A suite title that says why it is skipped, so the reason shows in the test report. */
export function streamTitleOf(b: StreamBackendCase): string {
  return b.skip === undefined ? b.name : `${b.name} (skipped: ${b.skip})`;
}
