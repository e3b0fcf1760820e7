/**
 * The inference log's thread (a worker_threads Worker started by ThreadedEntryLog): reads entries
 * from the shared ring (and, for the few the ring does not carry, from messages), and runs an
 * EntryLog over them — encoding rows as NDJSON and writing segments with group commit — off the
 * serving thread. It reports what it writes, drops and seals to the serving thread, which keeps
 * the counts, rolls sealed segments and publishes stream lines.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import pino from "pino";
import { EntryLog, type EntryLogOptions } from "./entry-log.js";
import { EntryRing, type EntryDescriptor } from "./entry-ring.js";
import type { InferenceLogEntry } from "./log-record.js";
import type { FromLogThread, LogThreadData, ToLogThread } from "./threaded-entry-log.js";

const port = parentPort as MessagePort;
const data = workerData as LogThreadData;
const ring = new EntryRing(data.ring);
const descriptorPort = data.descriptors;
const descriptors = new Map<number, EntryDescriptor>();

const post = (m: FromLogThread) => port.postMessage(m);
// Log lines go to the serving thread's logger.
const logger = pino({ level: data.logLevel }, { write: (line: string) => post({ type: "log", line }) });

const options: EntryLogOptions = { ...data.options, logger };
const log = new EntryLog(options, {
  written: (n) => post({ type: "written", n }),
  dropped: (n, reason) => post({ type: "dropped", n, reason }),
  sealed: (path) => {
    // The hints go with the news: the serving thread rolls the segment and owns them from now.
    post({ type: "sealed", path, hints: log.hintsFor(path) });
    log.forgetHints(path);
  },
  lines: (records) => post({ type: "lines", records }),
});

/** Descriptors are posted before the first record naming them, on a port only read here. */
function descriptor(id: number): EntryDescriptor | undefined {
  for (;;) {
    const d = descriptors.get(id);
    if (d !== undefined) return d;
    const m = receiveMessageOnPort(descriptorPort);
    if (m === undefined) return undefined;
    const msg = m.message as { add?: EntryDescriptor; forget?: number[] };
    if (msg.add !== undefined) descriptors.set(msg.add.id, msg.add);
    for (const f of msg.forget ?? []) descriptors.delete(f);
  }
}

/**
 * Offers every record in the ring to the log, encoded together as one queued item; a record whose
 * descriptor never came is dropped and counted.
 */
function drain(): number {
  const entries: InferenceLogEntry[] = [];
  let lost = 0;
  const n = ring.drain(descriptor, (entry) => {
    if (entry === undefined) lost++;
    else entries.push(entry);
  });
  if (lost > 0) post({ type: "dropped", n: lost, reason: "encode_error" });
  // A full queue or a closed log drops and counts the entries itself (reported through `dropped`).
  if (entries.length > 0) log.offerMany(entries);
  return n;
}

let closing = false;

/**
 * How often the ring is read: a fraction of the group-commit window, so a row still reaches its
 * segment about when it would have on the serving thread. Polling costs the serving thread
 * nothing; waking this thread for every entry cost both threads a system call each.
 */
const POLL_MS = Math.max(1, Math.min(5, (data.options.groupCommitMs ?? 10) / 2));

async function pump(): Promise<void> {
  while (!closing) {
    drain();
    await new Promise<void>((r) => setTimeout(r, POLL_MS));
  }
}

port.on("message", (m: ToLogThread) => {
  void handle(m);
});

async function handle(m: ToLogThread): Promise<void> {
  if (m.type === "entry") {
    log.offer(m.entry);
    return;
  }
  try {
    // Everything offered before the request is in the ring or came before this message.
    drain();
    if (m.type === "flush") await log.flush();
    else if (m.type === "seal") await log.seal();
    else {
      closing = true;
      await log.close();
    }
    post({ type: "done", id: m.id });
  } catch (e) {
    post({ type: "done", id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
}

post({ type: "ready", token: log.token });
// A thread that can no longer read the ring ends: the serving side then writes entries itself.
void pump().catch((e: unknown) => {
  logger.error({ err: e }, "inference log thread: reading entries failed");
  setImmediate(() => process.exit(1));
});
