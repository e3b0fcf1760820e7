/**
 * A consumer across broker restarts, on a private nats-server this test starts and kills (so the
 * shared server is never touched). After a clean restart nothing is lost or redelivered; after
 * kill -9 nothing is lost, but acknowledgements not yet synced to disk are redelivered, which is
 * why consumers record the last applied seq.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createConnection, createServer } from "node:net";
import { afterAll, describe, expect, test } from "vitest";
import { tempDir } from "../../../../test/helpers/backends.js";
import { openStreamBus } from "../open.js";
import type { StreamBus, Subscription } from "../stream-bus.js";

const hasServer = spawnSync("nats-server", ["--version"]).status === 0;
const skip = hasServer ? undefined : "the nats-server binary is not on PATH";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
  return Date.now() - start;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

describe.skipIf(skip !== undefined)(`StreamBus across NATS restarts${skip === undefined ? "" : ` (skipped: ${skip})`}`, () => {
  const dir = tempDir("flywheel-nats-");
  let server: ChildProcess | undefined;
  let bus: StreamBus | undefined;
  let sub: Subscription | undefined;

  async function startServer(port: number): Promise<void> {
    server = spawn("nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir.path], { stdio: "ignore" });
    await until("nats-server to listen", () => accepts(port), 10_000);
  }

  async function stopServer(signal: NodeJS.Signals): Promise<void> {
    const s = server;
    if (s === undefined || s.exitCode !== null) return;
    const exited = new Promise((r) => s.once("exit", r));
    s.kill(signal);
    await exited;
  }

  afterAll(async () => {
    await sub?.stop();
    await bus?.close();
    await stopServer("SIGKILL");
    dir.remove();
  });

  test("a consumer resumes after the broker restarts, without losing a message", async () => {
    const port = await freePort();
    await startServer(port);
    bus = await openStreamBus(`nats://127.0.0.1:${port}`);
    await bus.ensureStream("PUSH", ["push.>"]);
    const handled: number[] = [];
    sub = await bus.consume("PUSH", "writer", { batch: 10, retryDelayMs: 10, onError: () => undefined }, async (msgs) => {
      handled.push(...msgs.map((m) => m.seq));
    });
    const publish = async (from: number, to: number) => {
      for (let i = from; i <= to; i++) await bus!.publish("push.rows", { i }, { msgId: `row-${i}` });
    };
    const republishUntilUp = async (i: number) => {
      // The first publish after a restart waits for the reconnection; msgId makes retries harmless.
      await until("the broker to take a publish", () => bus!.publish("push.rows", { i }, { msgId: `row-${i}` }).then(() => true, () => false), 30_000);
    };

    await publish(1, 5);
    await until("the first five", () => handled.length === 5, 10_000);

    // A clean restart: the server syncs its state, so every ack survives.
    await stopServer("SIGTERM");
    await startServer(port);
    await republishUntilUp(6);
    await publish(7, 10);
    const cleanMs = await until("six to ten", () => handled.length >= 10, 20_000);
    await sleep(300);
    expect(handled).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    // kill -9: acks not yet synced to disk may be lost, so some messages may come again; none is lost.
    await stopServer("SIGKILL");
    await startServer(port);
    await republishUntilUp(11);
    await publish(12, 15);
    const killMs = await until("eleven to fifteen", () => new Set(handled).size === 15, 20_000);
    expect([...new Set(handled)].sort((a, b) => a - b)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    console.log(`resumed ${cleanMs} ms after a clean restart, ${killMs} ms after kill -9; ${handled.length - 15} redelivered`);
  });
});
