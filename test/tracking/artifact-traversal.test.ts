/**
 * The inputs behind MLflow's path-traversal CVEs (CVE-2023-1177, CVE-2023-6909, CVE-2024-1560,
 * CVE-2024-1594) against every artifact endpoint: each is refused, and a file beside the
 * artifact root is never read, overwritten or deleted.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sqliteBackend } from "../helpers/backends.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** Sends a request with the path exactly as given (fetch would normalize `..`). */
function raw(url: string, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const SECRET = "top secret, outside the artifact root";

const TRAVERSALS = [
  "../secret.txt",
  "..%2fsecret.txt",
  "%2e%2e/secret.txt",
  "%2e%2e%2fsecret.txt",
  "%252e%252e%252fsecret.txt",
  "%25252e%25252e%25252fsecret.txt",
  "a/../../secret.txt",
  "a/%2e%2e/%2e%2e/secret.txt",
  "..%5csecret.txt",
  "%2fetc%2fpasswd",
  "%252fetc%252fpasswd",
  "C:%5cWindows%5cwin.ini",
  "C:/Windows/win.ini",
  "secret.txt%00.png",
  "x%23/../../secret.txt",
  "x%3b/../../secret.txt",
  "%3b/secret.txt",
  "%23secret.txt",
  "file:%2f%2f%2fetc%2fpasswd",
];

describe("artifact path traversal", () => {
  let s: TestServer;
  let secretPath: string;
  let artifactRoot: string;

  beforeAll(async () => {
    s = await startTestServer(sqliteBackend);
    artifactRoot = join(s.dataDir, "artifacts");
    secretPath = join(dirname(artifactRoot), "secret.txt");
    writeFileSync(secretPath, SECRET);
  });
  afterAll(async () => {
    await s?.stop();
  });

  for (const input of TRAVERSALS) {
    test(`refuses ${input} on every endpoint`, async () => {
      const base = "/api/2.0/mlflow-artifacts/artifacts";
      const down = await raw(s.url, "GET", `${base}/${input}`);
      expect(down.status, `GET ${input}`).toBeGreaterThanOrEqual(400);
      expect(down.status).toBeLessThan(500);
      expect(down.text).not.toContain(SECRET);

      const up = await raw(s.url, "PUT", `${base}/${input}`, "overwritten");
      expect(up.status, `PUT ${input}`).toBeGreaterThanOrEqual(400);
      expect(up.status).toBeLessThan(500);

      const del = await raw(s.url, "DELETE", `${base}/${input}`);
      expect(del.status, `DELETE ${input}`).toBeGreaterThanOrEqual(400);
      expect(del.status).toBeLessThan(500);

      const list = await raw(s.url, "GET", `${base}?path=${input}`);
      expect(list.status, `list ${input}`).toBe(400);
      expect(JSON.parse(list.text)).toMatchObject({ error_code: "INVALID_PARAMETER_VALUE" });

      expect(existsSync(secretPath)).toBe(true);
      expect(readFileSync(secretPath, "utf8")).toBe(SECRET);
    });
  }

  test("artifacts/list of a run refuses the same inputs", async () => {
    const run = await s.call("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0" });
    const runId = run.json.run.info.run_id as string;
    for (const input of TRAVERSALS) {
      const r = await raw(s.url, "GET", `/api/2.0/mlflow/artifacts/list?run_id=${runId}&path=${input}`);
      expect(r.status, input).toBe(400);
      expect(JSON.parse(r.text).error_code).toBe("INVALID_PARAMETER_VALUE");
    }
  });

  test("an experiment's artifact_location cannot point outside the artifact root", async () => {
    for (const location of ["file:///etc", "/tmp/elsewhere", "mlflow-artifacts:/../x", "mlflow-artifacts:/a/%2e%2e/%2e%2e/x", "s3://bucket/x"]) {
      const r = await s.call("POST", "/api/2.0/mlflow/experiments/create", { name: `loc-${location}`, artifact_location: location });
      expect(r.status, location).toBe(400);
      expect(r.json.error_code).toBe("INVALID_PARAMETER_VALUE");
    }
  });

  test("ordinary paths with encoded characters still work", async () => {
    const put = await raw(s.url, "PUT", "/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/my%20file%2Bv1.txt", "hello");
    expect(put.status).toBe(200);
    const get = await raw(s.url, "GET", "/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/my%20file%2Bv1.txt");
    expect(get).toEqual({ status: 200, text: "hello" });
    expect(existsSync(join(artifactRoot, "0", "x", "artifacts", "my file+v1.txt"))).toBe(true);
  });
});

describe("artifact uploads that fail midway", () => {
  test("a client that hangs up mid-upload leaves no partial object and the server keeps serving", async () => {
    const s = await startTestServer(sqliteBackend);
    try {
      const u = new URL(s.url);
      await raw(s.url, "PUT", "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/big.bin", "old");
      await new Promise<void>((resolve) => {
        const req = request({ host: u.hostname, port: u.port, method: "PUT", path: "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/big.bin", headers: { "content-length": 1_000_000 } });
        req.on("error", () => resolve());
        req.write(Buffer.alloc(64 * 1024, 1));
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 50);
      });
      await new Promise((r) => setTimeout(r, 100));
      expect((await s.call("GET", "/health")).status).toBe(200);
      expect(await raw(s.url, "GET", "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/big.bin")).toEqual({ status: 200, text: "old" });
      const listed = await s.call("GET", "/api/2.0/mlflow-artifacts/artifacts?path=0/r/artifacts");
      expect(listed.json.files).toEqual([{ path: "big.bin", is_dir: false, file_size: 3 }]);
    } finally {
      await s.stop();
    }
  });
});
