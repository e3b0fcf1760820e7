/**
 * The load generator of bench:online: keep-alive `node:http` connections that each send their
 * next request when the last one is answered, latency percentiles, and the server's CPU time per
 * request read from /proc. Two servers are measured in alternating slices, so load from other
 * processes falls on both alike.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";

export interface Stats {
  requests: number;
  errors: number;
  firstError?: string;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  /** Server CPU time (user + system) per request, microseconds; NaN where /proc is not available. */
  cpuUs: number;
}

/** One simulated client connection: its next request body, and why the answer to it is wrong (undefined: right). */
export interface Connection {
  next(): Buffer;
  check(status: number, text: string): string | undefined;
}

/** A server under load: where to send, its process (for CPU time), and one Connection per concurrent client. */
export interface Side {
  url: URL;
  pid: number | undefined;
  connections: Connection[];
}

export interface Timing {
  warmupSeconds: number;
  seconds: number;
  /** Slices per side; the sides alternate, and which goes first alternates too. */
  rounds: number;
}

/** USER_HZ: 100 on every Linux platform Node supports. */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; NaN when unreadable. */
function cpuSecondsOf(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** One POST on a keep-alive agent: status and body text. */
export function post(agent: Agent, url: URL, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((done, fail) => {
    const req = request(url, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => done({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", fail);
    });
    req.on("error", fail);
    req.end(body);
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
}

/** Latencies, failures and server CPU gathered over one or more timed slices. */
class Tally {
  readonly latencies: number[] = [];
  errors = 0;
  firstError: string | undefined;
  seconds = 0;
  cpuSeconds = 0;

  stats(): Stats {
    const sorted = Float64Array.from(this.latencies).sort();
    return {
      requests: this.latencies.length,
      errors: this.errors,
      ...(this.firstError === undefined ? {} : { firstError: this.firstError }),
      rps: this.latencies.length / this.seconds,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      p999: percentile(sorted, 0.999),
      cpuUs: (this.cpuSeconds * 1e6) / this.latencies.length,
    };
  }
}

/** Every connection of a side, back to back, for `seconds`; a failed or wrong answer counts as an error. */
async function drive(side: Side, agent: Agent, seconds: number, tally: Tally): Promise<void> {
  const start = performance.now();
  const end = start + seconds * 1000;
  const cpu0 = cpuSecondsOf(side.pid);
  await Promise.all(
    side.connections.map(async (conn) => {
      while (performance.now() < end) {
        const body = conn.next();
        const t0 = performance.now();
        let why: string | undefined;
        try {
          const { status, text } = await post(agent, side.url, body);
          tally.latencies.push(performance.now() - t0);
          why = conn.check(status, text);
        } catch (e) {
          tally.latencies.push(performance.now() - t0);
          why = e instanceof Error ? e.message : String(e);
        }
        if (why !== undefined) {
          tally.errors++;
          tally.firstError ??= why;
        }
      }
    }),
  );
  tally.seconds += (performance.now() - start) / 1000;
  tally.cpuSeconds += cpuSecondsOf(side.pid) - cpu0;
}

/** Both sides in alternating slices after a discarded warm-up of each; their stats in the same order. */
export async function measurePair(a: Side, b: Side, timing: Timing): Promise<[Stats, Stats]> {
  const sides = [a, b].map((side) => {
    const n = side.connections.length;
    return { side, agent: new Agent({ keepAlive: true, maxSockets: n, maxFreeSockets: n }), tally: new Tally() };
  });
  try {
    for (const s of sides) await drive(s.side, s.agent, timing.warmupSeconds, new Tally());
    for (let r = 0; r < timing.rounds; r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) await drive(s.side, s.agent, timing.seconds / timing.rounds, s.tally);
    }
    return [sides[0]?.tally.stats() as Stats, sides[1]?.tally.stats() as Stats];
  } finally {
    for (const s of sides) s.agent.destroy();
  }
}
