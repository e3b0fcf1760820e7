/**
 * Names and ownership of log segment files, and the small durable-file steps the log relies on.
 *
 * A segment is `<host>_<pid>_<token>_<seq>.ndjson`: the writer's host and process, a token per
 * writer instance, and a sequence number. Several processes may write into one data directory
 * (`flywheel serve --workers N`); each only appends to its own segments, and a segment whose
 * writer is gone (its process died, or its instance in this process was dropped) is "abandoned":
 * any live writer may roll it into Parquet.
 */
import { createHash, randomBytes } from "node:crypto";
import { open, readdir } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";

export const SEGMENT_SUFFIX = ".ndjson";
const SEGMENT_RE = /^([A-Za-z0-9-]{1,64})_(\d{1,10})_([a-z0-9]{1,32})_(\d{1,12})\.ndjson$/;

/** This machine's name as it appears in segment names (letters, digits and '-'). */
export const HOST = hostname().replace(/[^A-Za-z0-9-]/g, "-").slice(0, 64) || "host";

export interface SegmentName {
  host: string;
  pid: number;
  token: string;
  seq: number;
}

export function newWriterToken(): string {
  return randomBytes(6).toString("hex");
}

export function segmentFileName(token: string, seq: number): string {
  return `${HOST}_${process.pid}_${token}_${String(seq).padStart(6, "0")}${SEGMENT_SUFFIX}`;
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const m = SEGMENT_RE.exec(name);
  if (m === null) return undefined;
  return { host: m[1] as string, pid: Number(m[2]), token: m[3] as string, seq: Number(m[4]) };
}

/** The segment's id: its name without the suffix (the Parquet files rolled from it carry it). */
export function segmentId(name: string): string {
  return name.endsWith(SEGMENT_SUFFIX) ? name.slice(0, -SEGMENT_SUFFIX.length) : name;
}

/** Writer tokens of the log instances open in this process. */
const liveTokens = new Set<string>();

export function registerWriter(token: string): void {
  liveTokens.add(token);
}

export function unregisterWriter(token: string): void {
  liveTokens.delete(token);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether no live writer on this machine owns the segment (segments of other hosts are never touched). */
export function isAbandoned(name: SegmentName): boolean {
  if (name.host !== HOST) return false;
  if (name.pid === process.pid) return !liveTokens.has(name.token);
  return !processAlive(name.pid);
}

/** Segment file names in `dir` (none when it does not exist), oldest sequence first per writer. */
export async function listSegments(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  return names.filter((n) => n.endsWith(SEGMENT_SUFFIX) && !n.startsWith(".")).sort();
}

/** fsync of a directory, so a file created, renamed or removed in it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, "r+");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * A model name as one path segment: letters, digits, '_' and '-' kept, every other UTF-8 byte as
 * %XX (so '.', '/', '*' and '?' never reach a path or a glob); long names are cut and suffixed
 * with a hash so the segment stays under file-name limits.
 */
export function partitionValue(name: string): string {
  let out = "";
  for (const byte of Buffer.from(name, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  if (out.length <= 160) return out;
  return `${out.slice(0, 120)}~${createHash("sha256").update(name).digest("hex").slice(0, 16)}`;
}

/** `<root>/date=YYYY-MM-DD/hour=HH` for an hour given as `YYYY-MM-DD/HH`. */
export function hourDir(root: string, hour: string): string {
  const [date, hh] = hour.split("/");
  return join(root, `date=${date ?? ""}`, `hour=${hh ?? ""}`);
}
