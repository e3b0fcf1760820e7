/** `nats://[user:password@]host[:port][,nats://host2:port...]` → connection options. */
import { FlywheelError } from "../../../core/errors.js";

export interface NatsTarget {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** The URI with any password or token hidden, for messages. */
  display: string;
}

export function parseNatsUri(uri: string): NatsTarget {
  const servers: string[] = [];
  const shown: string[] = [];
  let user: string | undefined;
  let pass: string | undefined;
  for (const part of uri.split(",")) {
    let url: URL;
    try {
      url = new URL(part.trim());
    } catch {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid stream bus URI '${redact(uri)}': expected nats://host:port`);
    }
    if (url.protocol !== "nats:" || url.hostname === "") {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid stream bus URI '${redact(uri)}': expected nats://host:port`);
    }
    if (url.username !== "") {
      user = decodeURIComponent(url.username);
      pass = url.password === "" ? undefined : decodeURIComponent(url.password);
    }
    const hostPort = `${url.hostname}:${url.port === "" ? "4222" : url.port}`;
    servers.push(hostPort);
    shown.push(`nats://${hostPort}`);
  }
  const target: NatsTarget = { servers, display: shown.join(",") };
  // A lone user part is a token (nats://s3cr3t@host), as the NATS clients read it.
  if (user !== undefined && pass === undefined) target.token = user;
  else if (user !== undefined) Object.assign(target, { user, pass });
  return target;
}

function redact(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/g, "//***@");
}
