import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { tempDir } from "../../test/helpers/backends.js";
import { artifactsUriOf, loadConfig, metadataUriOf } from "./config.js";
import { FlywheelError } from "./errors.js";

describe("loadConfig", () => {
  const dirs: { remove(): void }[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));
  function dir(): string {
    const d = tempDir("flywheel-config-");
    dirs.push(d);
    return d.path;
  }

  test("defaults: 127.0.0.1:5000, ./flywheel-data, SQLite and artifacts inside it", () => {
    const cwd = dir();
    const cfg = loadConfig({ env: {}, cwd });
    expect(cfg).toMatchObject({ host: "127.0.0.1", port: 5000, dataDir: join(cwd, "flywheel-data"), logLevel: "info" });
    expect(metadataUriOf(cfg)).toBe(`sqlite:///${join(cwd, "flywheel-data", "flywheel.db")}`);
    expect(artifactsUriOf(cfg)).toBe(`file://${join(cwd, "flywheel-data", "artifacts")}`);
  });

  test("flags > FLYWHEEL_* environment > flywheel.yaml > defaults", () => {
    const cwd = dir();
    writeFileSync(join(cwd, "flywheel.yaml"), "port: 7000\nhost: 0.0.0.0\nlogLevel: debug\ndataDir: ./from-yaml\n");
    expect(loadConfig({ env: {}, cwd })).toMatchObject({ port: 7000, host: "0.0.0.0", logLevel: "debug", dataDir: join(cwd, "from-yaml") });
    const env = { FLYWHEEL_PORT: "7100", FLYWHEEL_LOG_LEVEL: "warn" };
    expect(loadConfig({ env, cwd })).toMatchObject({ port: 7100, host: "0.0.0.0", logLevel: "warn" });
    expect(loadConfig({ env, cwd, flags: { port: "7200", host: undefined } })).toMatchObject({ port: 7200, host: "0.0.0.0", logLevel: "warn" });
  });

  test("inferenceLogThread: on by default; true/false or 1/0 from the environment or YAML; anything else is refused", () => {
    const cwd = dir();
    expect(loadConfig({ env: {}, cwd }).inferenceLogThread).toBe(true);
    expect(loadConfig({ env: { FLYWHEEL_INFERENCE_LOG_THREAD: "0" }, cwd }).inferenceLogThread).toBe(false);
    expect(loadConfig({ env: { FLYWHEEL_INFERENCE_LOG_THREAD: "false" }, cwd }).inferenceLogThread).toBe(false);
    expect(loadConfig({ env: { FLYWHEEL_INFERENCE_LOG_THREAD: "1" }, cwd }).inferenceLogThread).toBe(true);
    writeFileSync(join(cwd, "flywheel.yaml"), "inferenceLogThread: false\n");
    expect(loadConfig({ env: {}, cwd }).inferenceLogThread).toBe(false);
    expect(() => loadConfig({ env: { FLYWHEEL_INFERENCE_LOG_THREAD: "maybe" }, cwd: dir() })).toThrow(/inferenceLogThread.*FLYWHEEL_INFERENCE_LOG_THREAD|FLYWHEEL_INFERENCE_LOG_THREAD.*inferenceLogThread/s);
  });

  test("runtimeThread: on by default; FLYWHEEL_RUNTIME_THREAD or YAML turn it off; anything else is refused", () => {
    const cwd = dir();
    expect(loadConfig({ env: {}, cwd }).runtimeThread).toBe(true);
    expect(loadConfig({ env: { FLYWHEEL_RUNTIME_THREAD: "false" }, cwd }).runtimeThread).toBe(false);
    writeFileSync(join(cwd, "flywheel.yaml"), "runtimeThread: 0\n");
    expect(loadConfig({ env: {}, cwd }).runtimeThread).toBe(false);
    expect(() => loadConfig({ env: { FLYWHEEL_RUNTIME_THREAD: "yes" }, cwd: dir() })).toThrow(/runtimeThread.*FLYWHEEL_RUNTIME_THREAD|FLYWHEEL_RUNTIME_THREAD.*runtimeThread/s);
  });

  test("intraOpNumThreads: 1 by default; FLYWHEEL_INTRA_OP_THREADS or YAML set it; anything but an integer from 0 to 256 is refused", () => {
    const cwd = dir();
    expect(loadConfig({ env: {}, cwd }).intraOpNumThreads).toBe(1);
    expect(loadConfig({ env: { FLYWHEEL_INTRA_OP_THREADS: "0" }, cwd }).intraOpNumThreads).toBe(0);
    expect(loadConfig({ env: {}, cwd, flags: { intraOpNumThreads: "4" } }).intraOpNumThreads).toBe(4);
    writeFileSync(join(cwd, "flywheel.yaml"), "intraOpNumThreads: 2\n");
    expect(loadConfig({ env: {}, cwd }).intraOpNumThreads).toBe(2);
    for (const bad of ["-1", "1.5", "many", "257"]) {
      expect(() => loadConfig({ env: { FLYWHEEL_INTRA_OP_THREADS: bad }, cwd: dir() })).toThrow(/intraOpNumThreads.*FLYWHEEL_INTRA_OP_THREADS.*must be an integer from 0 to 256/s);
    }
  });

  test("inference log overflow: drop by default, backpressure from the environment or YAML; capacity and wait are checked", () => {
    const cwd = dir();
    expect(loadConfig({ env: {}, cwd })).toMatchObject({ inferenceLogOverflow: "drop", inferenceLogCapacity: 100_000, inferenceLogMaxWaitMs: 1000 });
    const env = { FLYWHEEL_INFERENCE_LOG_OVERFLOW: "backpressure", FLYWHEEL_INFERENCE_LOG_CAPACITY: "500", FLYWHEEL_INFERENCE_LOG_MAX_WAIT_MS: "250" };
    expect(loadConfig({ env, cwd })).toMatchObject({ inferenceLogOverflow: "backpressure", inferenceLogCapacity: 500, inferenceLogMaxWaitMs: 250 });
    writeFileSync(join(cwd, "flywheel.yaml"), "inferenceLogOverflow: backpressure\n");
    expect(loadConfig({ env: {}, cwd }).inferenceLogOverflow).toBe("backpressure");
    expect(() => loadConfig({ env: { FLYWHEEL_INFERENCE_LOG_OVERFLOW: "block" }, cwd: dir() })).toThrow(/inferenceLogOverflow.*FLYWHEEL_INFERENCE_LOG_OVERFLOW.*'drop' or 'backpressure'/s);
    expect(() => loadConfig({ env: { FLYWHEEL_INFERENCE_LOG_CAPACITY: "0" }, cwd: dir() })).toThrow(/inferenceLogCapacity/);
    expect(() => loadConfig({ env: { FLYWHEEL_INFERENCE_LOG_MAX_WAIT_MS: "-1" }, cwd: dir() })).toThrow(/inferenceLogMaxWaitMs/);
  });

  test("FLYWHEEL_CONFIG names another YAML file", () => {
    const cwd = dir();
    const file = join(cwd, "other.yaml");
    writeFileSync(file, "port: 7300\n");
    expect(loadConfig({ env: { FLYWHEEL_CONFIG: file }, cwd }).port).toBe(7300);
  });

  test("invalid values name the setting and where it came from", () => {
    const cwd = dir();
    const err = (() => {
      try {
        loadConfig({ env: { FLYWHEEL_PORT: "http" }, cwd });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(FlywheelError);
    expect((err as FlywheelError).code).toBe("FW_CONFIG_INVALID");
    expect((err as FlywheelError).message).toContain("port");
    expect((err as FlywheelError).message).toContain("FLYWHEEL_PORT");
    writeFileSync(join(cwd, "flywheel.yaml"), "prot: 1\n");
    expect(() => loadConfig({ env: {}, cwd })).toThrow(/unknown key 'prot'/);
    writeFileSync(join(cwd, "flywheel.yaml"), "port: [\n");
    expect(() => loadConfig({ env: {}, cwd })).toThrow(/not valid YAML/);
    expect(() => loadConfig({ env: {}, cwd: dir(), flags: { logLevel: "loud" } })).toThrow(/logLevel/);
  });
});
