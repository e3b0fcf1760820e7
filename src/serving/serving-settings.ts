/**
 * How each model is served, from its registered-model tags: adaptive batching, the inference
 * log's sample rate and the traffic policy. Tags do not change a model's revision token, so the
 * settings are read again once they are `ttlMs` old: a tag set through the registry takes effect
 * within that time, without a restart. A pending read is shared by the requests that need it.
 */
import type { Tag } from "../storage/metadata/common.js";
import { batchConfigOf, type BatchConfig } from "./batcher.js";
import { logSampleRateOf } from "./inference-log/sampling.js";
import { trafficPolicyOf, type TrafficPolicy } from "./traffic.js";

/** How a model is served, from its registered-model tags. */
export interface ServingSettings {
  /** Adaptive batching (`flywheel.serving.max_batch_size`, `flywheel.serving.max_batch_time_ms`); undefined: off. */
  batching: BatchConfig | undefined;
  /** The share of requests the inference log keeps (`flywheel.log.sample_rate`, 0 to 1); default 1. */
  logSampleRate: number;
  /** How requests naming the model alone are routed (`flywheel.serving.traffic`); undefined: to the latest version. */
  traffic?: TrafficPolicy | undefined;
}

/** The settings of a model whose registry has no tags to read. */
const NO_SETTINGS: ServingSettings = Object.freeze({ batching: undefined, logSampleRate: 1 });

/** Models whose settings are kept at most. */
const CAP = 10_000;

interface Read {
  at: number;
  value: Promise<ServingSettings>;
  resolved?: ServingSettings;
}

export class ServingSettingsCache {
  private readonly reads = new Map<string, Read>();

  /** `getModel` reads a registered model's tags; without it every model is served with the defaults. */
  constructor(
    private readonly getModel: ((name: string) => Promise<{ tags: readonly Tag[] }>) | undefined,
    private readonly ttlMs: number,
  ) {
    if (!Number.isFinite(ttlMs) || ttlMs < 0) throw new Error(`settingsTtlMs must be a non-negative number, got ${ttlMs}`);
  }

  /** The serving settings of a model, read once they are `ttlMs` old. */
  settingsFor(name: string): Promise<ServingSettings> {
    const getModel = this.getModel;
    if (getModel === undefined) return Promise.resolve(NO_SETTINGS);
    const hit = this.fresh(name);
    if (hit !== undefined) return hit.value;
    const read: Read = {
      at: Date.now(),
      value: getModel(name).then((m) => {
        const settings = { batching: batchConfigOf(m.tags), traffic: trafficPolicyOf(m.tags), logSampleRate: logSampleRateOf(m.tags) };
        read.resolved = settings;
        return settings;
      }),
    };
    if (this.reads.size >= CAP) this.reads.clear();
    this.reads.set(name, read);
    // A failed read is not kept: the next request reads again.
    read.value.catch(() => {
      if (this.reads.get(name) === read) this.reads.delete(name);
    });
    return read.value;
  }

  /** `settingsFor(name)` when it is at hand (read, and fresh), without waiting; undefined when it would have to be read. */
  settingsNow(name: string): ServingSettings | undefined {
    if (this.getModel === undefined) return NO_SETTINGS;
    return this.fresh(name)?.resolved;
  }

  private fresh(name: string): Read | undefined {
    const hit = this.reads.get(name);
    return hit !== undefined && Date.now() - hit.at < this.ttlMs ? hit : undefined;
  }
}
