/**
 * Registered versions loaded into ONNX Runtime: one InferenceSession per (model, version), shared
 * by every request. What a reference resolves to is cached under the model's revision token. The
 * token itself is reused while this process has not written to the registry (its write count stood
 * still since the token was read) and for at most `revisionTtlMs`: a move made through this process
 * takes effect on the next request, one made by another process (a replica, the CLI on the same
 * database) within that time. Sessions stay cached per version.
 */
import { readModelPackage } from "./scoring-model.js";
import type { InferenceSession } from "onnxruntime-node";
import type { FlywheelModelMetadata } from "../models/metadata.js";
import type { ModelRef } from "../registry/model-uri.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import type { Tag } from "../storage/metadata/common.js";
import type { ModelVersion } from "../storage/metadata/registry-store.js";
import { ServingSettingsCache, type ServingSettings } from "./serving-settings.js";
import { ServingError } from "./errors.js";
import { RuntimeThread } from "./runtime-thread.js";
import { sessionRunner, type RunCount } from "./session-runner.js";
import type { Logger } from "../core/logger.js";
import { servingSignature } from "./serving-signature.js";
import type { RuntimeTensor, ServingSignature, TensorValue } from "./tensors.js";

/** The part of the registry serving needs (RegistryService provides it). */
export interface ModelResolver {
  resolve(ref: ModelRef): Promise<ModelVersion>;
  /** Changes whenever what a reference to the model resolves to may have changed. */
  modelRevision(name: string): Promise<string | undefined>;
  /**
   * A count this process's registry writes bump when they start and when they end; without it the
   * revision token is read on every request.
   */
  localWriteCount?(): number | undefined;
  /** `mlflow-artifacts:/<key>` of the version's package directory. */
  downloadUri(name: string, version: string): Promise<string>;
  /** The registered model, for its serving tags; without it every model is served with the defaults. */
  getModel?(name: string): Promise<{ tags: readonly Tag[] }>;
}

export type { ServingSettings } from "./serving-settings.js";
export type { RuntimeTensor } from "./tensors.js";

export interface LoadedModel {
  name: string;
  version: string;
  signature: ServingSignature;
  /** The package's `metadata.flywheel`: feature service, ordered features, class names. */
  flywheel?: FlywheelModelMetadata;
  /** Runs the session; a runtime failure is a 400 naming the model (inputs were checked before). */
  run(feeds: Record<string, TensorValue>, outputs: readonly string[]): Promise<Record<string, RuntimeTensor>>;
}

export interface ModelCacheOptions {
  /** Threads ONNX Runtime uses inside one operator; default 1 (requests already run side by side). */
  intraOpNumThreads?: number;
  /** How long a model's serving tags are reused before they are read again; default 1000 ms. */
  settingsTtlMs?: number;
  /**
   * How long a model's revision token is reused while this process has not written to the
   * registry: the longest a move made by another process goes unseen; default 1000 ms, 0 reads it
   * on every request.
   */
  revisionTtlMs?: number;
  /**
   * Run ONNX Runtime on a second thread too (see runtime-thread.ts): a run that starts while
   * another is pending goes to the thread's session of the model; default false.
   */
  runtimeThread?: boolean;
  logger?: Logger;
}

/** A version's loaded model, its session, and its id on the ONNX Runtime thread (if it has one there). */
interface Loaded {
  model: LoadedModel;
  session: InferenceSession;
  threadSession?: number;
}

/** A loaded model held for a request by `holdNow` (its session is not released until `letGo`). */
export interface HeldModel {
  readonly loaded: { readonly model: LoadedModel };
}

interface Entry {
  /** Changes when a deleted model's version number is reused by a new package. */
  stamp: string;
  loading: Promise<Loaded>;
  /** What `loading` resolved to, once it has. */
  loaded?: Loaded;
  inFlight: number;
  retired: boolean;
}

const RESOLVED_CAP = 10_000;
/** A version's session, by name and version number; `stampOf` tells a reused number's new package apart. */
const entryKey = (v: ModelVersion) => `${v.name}\u0000${v.version}`;
const stampOf = (v: ModelVersion) => `${v.creationTime}\u0000${v.source}`;

function refKey(ref: ModelRef): string {
  switch (ref.kind) {
    case "version":
      return `${ref.name}\u0000v\u0000${ref.version}`;
    case "alias":
      return `${ref.name}\u0000a\u0000${ref.alias}`;
    case "stage":
      return `${ref.name}\u0000s\u0000${ref.stage}`;
    case "latest":
      return `${ref.name}\u0000l`;
  }
}

/** A reference's resolution under a revision token, with its version's session key and stamp (made once, read by every request). */
interface Resolution {
  token: string;
  version: ModelVersion;
  entryKey: string;
  stamp: string;
}

export class ModelCache {
  /** Told the model name and seconds of every ONNX Runtime run (a batched run once, for the batch). */
  onRun: ((model: string, seconds: number) => void) | undefined;
  private readonly entries = new Map<string, Entry>();
  /** Resolutions, each valid while the model's revision token is unchanged. */
  private readonly resolved = new Map<string, Resolution>();
  /** Serving settings by model name, from the registered-model tags. */
  private readonly settings: ServingSettingsCache;
  /** Revision tokens by model name, read at `at` when the local write count was `writes`. */
  private readonly revisions = new Map<string, { at: number; writes: number; token: string | undefined }>();
  private readonly revisionTtlMs: number;
  private closed = false;
  /** Sessions created so far (a test hook: loads happen once per version). */
  loads = 0;
  /** The second ONNX Runtime thread, started with the first load when `runtimeThread` is on. */
  private runtime: RuntimeThread | undefined;
  private runtimeStarted = false;
  private nextThreadSession = 1;
  /** Runs started and not yet finished on each thread, over every model (how runs are shared: session-runner.ts). */
  private readonly runs: RunCount = { inline: 0, offloaded: 0 };

  constructor(
    private readonly registry: ModelResolver,
    private readonly artifacts: ArtifactStore,
    private readonly options: ModelCacheOptions = {},
  ) {
    const threads = options.intraOpNumThreads ?? 1;
    if (!Number.isInteger(threads) || threads < 0) throw new Error(`intraOpNumThreads must be a non-negative integer, got ${threads}`);
    this.settings = new ServingSettingsCache(registry.getModel?.bind(registry), options.settingsTtlMs ?? 1000);
    this.revisionTtlMs = options.revisionTtlMs ?? 1000;
    if (!Number.isFinite(this.revisionTtlMs) || this.revisionTtlMs < 0) throw new Error(`revisionTtlMs must be a non-negative number, got ${this.revisionTtlMs}`);
  }

  /**
   * The model's revision token: reused when it was read less than `revisionTtlMs` ago and this
   * process has not started or finished a registry write since (a token read during a write is
   * never reused after it).
   */
  private async revision(name: string): Promise<string | undefined> {
    const writes = this.registry.localWriteCount?.();
    if (writes === undefined || this.revisionTtlMs === 0) return this.registry.modelRevision(name);
    const hit = this.freshRevision(name, writes);
    if (hit !== undefined) return hit.token;
    const now = performance.now();
    const token = await this.registry.modelRevision(name);
    if (this.revisions.size >= RESOLVED_CAP) this.revisions.clear();
    this.revisions.set(name, { at: now, writes, token });
    return token;
  }

  /** The revision token read for `name` that may still be reused (`revision`'s rule), if any. */
  private freshRevision(name: string, writes: number): { token: string | undefined } | undefined {
    const hit = this.revisions.get(name);
    return hit !== undefined && hit.writes === writes && performance.now() - hit.at < this.revisionTtlMs ? hit : undefined;
  }

  /**
   * The serving settings of a model, from its registered-model tags, read again once they are
   * `settingsTtlMs` old (serving-settings.ts).
   */
  settingsFor(name: string): Promise<ServingSettings> {
    return this.settings.settingsFor(name);
  }

  /** `settingsFor(name)` when it is at hand, without waiting; undefined when it would have to be read. */
  settingsNow(name: string): ServingSettings | undefined {
    return this.settings.settingsNow(name);
  }

  /**
   * The loaded model `ref` points at, when everything `use` would read is cached and fresh (the
   * revision token, the resolution under it, a READY version, its loaded session): what `use`
   * would find, without a wait. Undefined when anything would have to be read or loaded.
   */
  private peek(ref: ModelRef): Entry | undefined {
    if (this.closed || this.revisionTtlMs === 0) return undefined;
    const writes = this.registry.localWriteCount?.();
    const rev = writes === undefined ? undefined : this.freshRevision(ref.name, writes);
    if (rev?.token === undefined) return undefined;
    const hit = this.resolved.get(refKey(ref));
    if (hit === undefined || hit.token !== rev.token || hit.version.status !== "READY") return undefined;
    const entry = this.entries.get(hit.entryKey);
    if (entry?.loaded === undefined || entry.stamp !== hit.stamp) return undefined;
    return entry;
  }

  /**
   * The loaded model `ref` points at, held (its session is not released) until `letGo`, when
   * everything is cached and fresh (see `peek`); undefined when it would have to be read or loaded
   * (then `use`). What `use` does, without an async layer, for the requests that need no wait.
   */
  holdNow(ref: ModelRef): HeldModel | undefined {
    const entry = this.peek(ref);
    if (entry === undefined) return undefined;
    entry.inFlight++;
    return entry as HeldModel;
  }

  /** Ends a `holdNow`. */
  letGo(held: HeldModel): void {
    const entry = held as Entry;
    entry.inFlight--;
    if (entry.retired && entry.inFlight === 0) void this.release(entry);
  }

  /** The version `ref` points at now; a version that is not READY is refused (400). Unknown names are 404s. */
  async resolveReady(ref: ModelRef): Promise<ModelVersion> {
    const v = await this.resolveCached(ref);
    if (v.status !== "READY") {
      const why = v.statusMessage === "" ? "" : ` (${v.statusMessage})`;
      throw new ServingError(400, `model '${v.name}' version ${v.version} cannot be served: its status is ${v.status}${why}`);
    }
    return v;
  }

  /**
   * The token is read before resolving: a change that lands in between leaves a newer answer under
   * an older token, which the next call sees as stale and resolves again.
   */
  private async resolveCached(ref: ModelRef): Promise<ModelVersion> {
    const token = await this.revision(ref.name);
    const key = refKey(ref);
    const hit = this.resolved.get(key);
    if (token !== undefined && hit?.token === token) return hit.version;
    const version = await this.registry.resolve(ref);
    if (token !== undefined) {
      if (this.resolved.size >= RESOLVED_CAP) this.resolved.clear();
      this.resolved.set(key, { token, version, entryKey: entryKey(version), stamp: stampOf(version) });
    }
    return version;
  }

  /** Runs `fn` with the loaded model `ref` points at now; the session is not released while `fn` runs. */
  async use<T>(ref: ModelRef, fn: (model: LoadedModel) => Promise<T>): Promise<T> {
    // Most requests find everything cached: no awaits before `fn`.
    let entry = this.peek(ref);
    if (entry === undefined) {
      const version = await this.resolveReady(ref);
      if (this.closed) throw new ServingError(500, "the model server is shutting down");
      entry = this.entryFor(version);
    }
    entry.inFlight++;
    try {
      return await fn(entry.loaded?.model ?? (await entry.loading).model);
    } finally {
      this.letGo(entry as HeldModel);
    }
  }

  /** Threads ONNX Runtime uses inside one operator of each session (0: its own choice). */
  get intraOpNumThreads(): number {
    return this.options.intraOpNumThreads ?? 1;
  }

  /** Number of sessions held. */
  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const e of all) e.retired = true;
    await Promise.all(all.filter((e) => e.inFlight === 0).map((e) => this.release(e)));
    await this.runtime?.close();
  }

  /** The second ONNX Runtime thread, once started (undefined without one). */
  get thread(): RuntimeThread | undefined {
    return this.runtime;
  }

  /** The ONNX Runtime thread, started on first use; undefined when off or it cannot start here. */
  private runtimeThread(): RuntimeThread | undefined {
    if (!this.runtimeStarted && this.options.runtimeThread === true) {
      this.runtimeStarted = true;
      this.runtime = RuntimeThread.start(this.options.logger);
    }
    return this.runtime;
  }

  /** Releases a retired entry's session (and the thread's); a load that failed has nothing to release. */
  private release(entry: Entry): Promise<void> {
    return entry.loading
      .then(({ session, threadSession }) => {
        if (threadSession !== undefined) this.runtime?.release(threadSession);
        return session.release();
      })
      .catch(() => undefined);
  }

  private entryFor(v: ModelVersion): Entry {
    const key = entryKey(v);
    const stamp = stampOf(v);
    const existing = this.entries.get(key);
    if (existing !== undefined && existing.stamp === stamp) return existing;
    if (existing !== undefined) {
      existing.retired = true;
      if (existing.inFlight === 0) void this.release(existing);
    }
    const entry: Entry = { stamp, loading: this.load(v), inFlight: 0, retired: false };
    // A failed load is not cached: the next request tries again.
    entry.loading.then(
      (loaded) => {
        entry.loaded = loaded;
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    this.entries.set(key, entry);
    return entry;
  }

  private async load(v: ModelVersion): Promise<Loaded> {
    const what = `model '${v.name}' version ${v.version}`;
    try {
      const { pkg, onnx: bytes } = await readModelPackage(this.artifacts, await this.registry.downloadUri(v.name, v.version));
      const ort = await import("onnxruntime-node");
      const session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: this.intraOpNumThreads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
      });
      this.loads++;
      let signature: ServingSignature;
      try {
        signature = servingSignature(pkg.signature, session);
      } catch (e) {
        await session.release();
        throw e;
      }
      // The ONNX Runtime thread (when on) gets its own session of the model, for concurrent traffic.
      const runtime = this.runtimeThread();
      const thread = runtime === undefined ? undefined : { runtime, session: this.nextThreadSession++ };
      thread?.runtime.load(thread.session, bytes, { intraOpNumThreads: this.intraOpNumThreads });
      const run = sessionRunner({ what, model: v.name, session, ort, thread, runs: this.runs, timed: () => this.onRun });
      const model: LoadedModel = { name: v.name, version: v.version, signature, run, ...(pkg.flywheel === undefined ? {} : { flywheel: pkg.flywheel }) };
      return thread === undefined ? { model, session } : { model, session, threadSession: thread.session };
    } catch (e) {
      if (e instanceof ServingError) throw e;
      throw new ServingError(500, `${what} could not be loaded: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
}

