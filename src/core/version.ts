/** The package's version and root directory, found once from the nearest package.json named "flywheel". */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findPackage(): { root: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, "package.json");
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "flywheel" && typeof pkg.version === "string") return { root: dir, version: pkg.version };
    }
    dir = dirname(dir);
  }
  return { root: process.cwd(), version: "0.0.0" };
}

const found = findPackage();
export const VERSION = found.version;
/** Directory holding Flywheel's package.json (the repository root in development). */
export const PACKAGE_ROOT = found.root;
