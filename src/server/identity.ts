/**
 * Who is asking. Until authentication lands this is the `X-Flywheel-User` header or the user of
 * HTTP basic auth (what MLflow clients send with MLFLOW_TRACKING_USERNAME); empty when neither.
 */
import type { FastifyRequest } from "fastify";

export function requesterOf(req: FastifyRequest): string {
  const header = req.headers["x-flywheel-user"];
  if (typeof header === "string" && header.trim() !== "") return header.trim().slice(0, 256);
  const auth = req.headers.authorization;
  if (typeof auth === "string" && auth.toLowerCase().startsWith("basic ")) {
    const decoded = Buffer.from(auth.slice(6).trim(), "base64").toString("utf8");
    const user = decoded.split(":")[0] ?? "";
    if (user !== "") return user.slice(0, 256);
  }
  return "";
}
