/**
 * Traffic policies of registered models (canary, A/B, shadow): `GET`, `PUT` and `DELETE
 * /api/v1/models/<name>/traffic`. A policy applies to inference requests that name the model
 * alone (`/v2/models/<name>/infer`, `/v1/models/<name>:predict`); see serving/traffic.ts.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { FlywheelError } from "../../core/errors.js";
import type { RegistryService } from "../../registry/registry-service.js";
import { TRAFFIC_TAG, parseTrafficPolicy, targetName, targetRef, trafficPolicyOf, type TrafficPolicy, type TrafficTarget } from "../../serving/traffic.js";
import { route, type ApiRegistry } from "../route.js";

const nameInput = z.object({ name: z.string().min(1) });
const target = z.object({ version: z.union([z.string(), z.number()]).optional(), alias: z.string().optional() });
const putInput = z.object({
  name: z.string().min(1),
  routes: z.array(z.object({ target: target.optional(), version: z.union([z.string(), z.number()]).optional(), alias: z.string().optional(), weight: z.number() })),
  shadows: z.array(target).optional(),
  sticky_header: z.string().optional(),
});

const targetJson = (t: TrafficTarget) => ("alias" in t ? { alias: t.alias } : { version: t.version });

function policyJson(name: string, p: TrafficPolicy | undefined) {
  if (p === undefined) return { name, traffic: null };
  const total = p.routes.reduce((s, r) => s + r.weight, 0);
  return {
    name,
    traffic: {
      routes: p.routes.map((r) => ({ target: targetJson(r.target), weight: r.weight, share: r.weight / total })),
      shadows: p.shadows.map(targetJson),
      ...(p.stickyHeader === undefined ? {} : { sticky_header: p.stickyHeader }),
    },
  };
}

export function trafficPlugin(registry: RegistryService, docs: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const tag = "Serving";
    route(app, docs, { methods: ["GET"], url: "/models/:name/traffic", summary: "The model's traffic policy (null: requests go to the latest version)", tag, input: nameInput }, async ({ input }) => {
      const m = await registry.getModel(input.name);
      return policyJson(m.name, trafficPolicyOf(m.tags));
    });
    route(
      app,
      docs,
      { methods: ["PUT"], url: "/models/:name/traffic", summary: "Set weighted routes (canary, A/B with sticky_header) and shadows; every target must resolve to a READY version", tag, input: putInput },
      async ({ input }) => {
        const policy = parseTrafficPolicy(input);
        for (const t of [...policy.routes.map((r) => r.target), ...policy.shadows]) {
          const v = await registry.resolve(targetRef(input.name, t));
          if (v.status !== "READY") {
            throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Traffic target '${targetName(t)}' of model '${input.name}' is version ${v.version}, whose status is ${v.status}; only READY versions can take traffic`, {
              details: { field: "routes" },
            });
          }
        }
        await registry.setModelTag(input.name, { key: TRAFFIC_TAG, value: JSON.stringify(policy) });
        return policyJson(input.name, policy);
      },
    );
    route(app, docs, { methods: ["DELETE"], url: "/models/:name/traffic", summary: "Remove the traffic policy: requests go to the latest version again", tag, input: nameInput }, async ({ input }) => {
      const m = await registry.getModel(input.name);
      if (m.tags.some((t) => t.key === TRAFFIC_TAG)) await registry.deleteModelTag(input.name, TRAFFIC_TAG);
      return policyJson(m.name, undefined);
    });
  };
}
