/** Flywheel's governance API: model policies, promotion checks, approvals, promotions and the audit log. */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { FlywheelError } from "../../core/errors.js";
import type { Promotion } from "../../registry/governance.js";
import { parseStage } from "../../registry/model-uri.js";
import type { RegistryService } from "../../registry/registry-service.js";
import type { AuditEvent, ModelPolicy } from "../../storage/metadata/governance-store.js";
import { requesterOf } from "../identity.js";
import { int64, str } from "../mlflow/fields.js";
import { modelVersionJson } from "../mlflow/registry-wire.js";
import { route, type ApiRegistry } from "../route.js";

const target = { stage: z.string().optional(), alias: z.string().optional() };

/** Exactly one of stage and alias names what is promoted. */
function promotionOf(input: { stage?: string | undefined; alias?: string | undefined }): Promotion {
  if ((input.stage === undefined) === (input.alias === undefined)) {
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", "Invalid value for 'stage': give exactly one of 'stage' and 'alias'");
  }
  if (input.alias !== undefined) return { kind: "alias", alias: input.alias };
  const stage = parseStage(input.stage ?? "");
  if (stage === undefined) throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid value for 'stage': '${input.stage}' is not None, Staging, Production or Archived`);
  return { kind: "stage", stage };
}

function policyJson(p: ModelPolicy) {
  return { protected_aliases: p.protectedAliases, gates: p.gates, require_approval: p.requireApproval, updated_time: p.updatedTime, updated_by: p.updatedBy };
}

function auditJson(e: AuditEvent) {
  return { id: e.id, model: e.modelName, version: e.version, action: e.action, from: e.from, to: e.to, actor: e.actor, reason: e.reason, time: e.time };
}

export function governancePlugin(registry: RegistryService, docs?: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const tag = "Governance";
    const gov = registry.governance;

    route(app, docs, { methods: ["GET"], url: "/models/:name/policy", summary: "A model's promotion policy", tag, input: z.object({ name: z.string() }) }, async ({ input }) => {
      await registry.getModel(input.name);
      return { policy: policyJson(await gov.policy(input.name)) };
    });

    route(
      app,
      docs,
      {
        methods: ["PUT"],
        url: "/models/:name/policy",
        summary: "Set protected aliases, gates (run search grammar) and whether approval is required",
        tag,
        input: z.object({
          name: z.string(),
          protected_aliases: z.array(z.string()).optional(),
          gates: z.array(z.string()).optional(),
          require_approval: z.boolean().optional(),
          reason: z.string().optional(),
        }),
      },
      async ({ input, req }) => {
        await registry.getModel(input.name);
        const policy = await gov.setPolicy(
          input.name,
          {
            ...(input.protected_aliases !== undefined ? { protectedAliases: input.protected_aliases } : {}),
            ...(input.gates !== undefined ? { gates: input.gates } : {}),
            ...(input.require_approval !== undefined ? { requireApproval: input.require_approval } : {}),
          },
          requesterOf(req),
          input.reason ?? "",
        );
        return { policy: policyJson(policy) };
      },
    );

    route(
      app,
      docs,
      { methods: ["GET"], url: "/models/:name/versions/:version/promotion-check", summary: "Evaluate a promotion's gates and approvals without performing it", tag, input: z.object({ name: z.string(), version: str, ...target }) },
      async ({ input }) => {
        const version = await registry.getVersion(input.name, input.version);
        const check = await gov.evaluate(version, promotionOf(input));
        return {
          protected: check.protected,
          gates: check.gates.map((g) => ({ gate: g.gate, passed: g.passed, detail: g.detail })),
          approvals: check.approvals,
          allowed_without_approval: check.gates.every((g) => g.passed),
        };
      },
    );

    route(
      app,
      docs,
      { methods: ["POST"], url: "/models/:name/versions/:version/approve", summary: "Approve a promotion (recorded for the requesting user)", tag, input: z.object({ name: z.string(), version: str, ...target, reason: z.string().optional() }) },
      async ({ input, req }) => {
        const version = await registry.getVersion(input.name, input.version);
        await gov.approve(version, promotionOf(input), requesterOf(req), input.reason ?? "");
        return {};
      },
    );

    route(
      app,
      docs,
      {
        methods: ["POST"],
        url: "/models/:name/versions/:version/promote",
        summary: "Move an alias to the version or the version to a stage, through the model's gates",
        tag,
        input: z.object({ name: z.string(), version: str, ...target, reason: z.string().optional(), archive_existing_versions: z.boolean().optional() }),
      },
      async ({ input, req }) => {
        const p = promotionOf(input);
        const actor = requesterOf(req);
        if (p.kind === "alias") await registry.setAlias(input.name, p.alias, input.version, actor, input.reason ?? "");
        else await registry.transitionStage(input.name, input.version, p.stage, input.archive_existing_versions ?? false, actor, input.reason ?? "");
        return { model_version: modelVersionJson(await registry.getVersion(input.name, input.version)) };
      },
    );

    const auditInput = z.object({ after: int64.optional(), limit: int64.optional() });
    const limitOf = (n: number | undefined) => {
      if (n !== undefined && (n < 1 || n > 10_000)) throw new FlywheelError("FW_REQUEST_INVALID_FIELD", "Invalid value for 'limit': must be between 1 and 10000");
      return n ?? 1000;
    };
    route(app, docs, { methods: ["GET"], url: "/models/:name/audit", summary: "A model's audit log, oldest first", tag, input: auditInput.extend({ name: z.string() }) }, async ({ input }) => ({
      events: (await gov.auditLog(input.name, input.after ?? 0, limitOf(input.limit))).map(auditJson),
    }));
    route(app, docs, { methods: ["GET"], url: "/audit", summary: "The registry's audit log across models, oldest first", tag, input: auditInput }, async ({ input }) => ({
      events: (await gov.auditLog(undefined, input.after ?? 0, limitOf(input.limit))).map(auditJson),
    }));
  };
}
