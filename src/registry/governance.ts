/**
 * Governed promotion. Moving a protected alias (default `champion`, `production`) or moving a
 * version to Production requires the version to be READY, every gate of the model's policy to
 * pass on the version's run and, when the policy asks for it, an approval by another user.
 * Every transition, alias move, approval and refusal is written to the audit log.
 */
import type { Clock } from "../core/clock.js";
import { FlywheelError, invalidField } from "../core/errors.js";
import type { AuditAction, AuditEvent, ModelPolicy } from "../storage/metadata/governance-store.js";
import type { MetadataStore } from "../storage/metadata/metadata-store.js";
import type { ModelVersion } from "../storage/metadata/registry-store.js";
import { evaluateGate, parseGates, type GateResult } from "./gates.js";

export const DEFAULT_PROTECTED_ALIASES = ["champion", "production"];

export type Promotion = { kind: "stage"; stage: string } | { kind: "alias"; alias: string };

export function promotionKey(p: Promotion): string {
  return p.kind === "stage" ? `stage:${p.stage}` : `alias:${p.alias}`;
}

export interface PolicyUpdate {
  protectedAliases?: string[];
  gates?: string[];
  requireApproval?: boolean;
}

export interface PromotionCheck {
  policy: ModelPolicy;
  protected: boolean;
  gates: GateResult[];
  approvals: { approver: string; reason: string; time: number }[];
}

export class Governance {
  constructor(
    private readonly store: MetadataStore,
    private readonly clock: Clock,
  ) {}

  async policy(modelName: string): Promise<ModelPolicy> {
    return (
      (await this.store.governance.getPolicy(modelName)) ?? {
        protectedAliases: [...DEFAULT_PROTECTED_ALIASES],
        gates: [],
        requireApproval: false,
        updatedTime: 0,
        updatedBy: "",
      }
    );
  }

  async setPolicy(modelName: string, update: PolicyUpdate, actor: string, reason: string): Promise<ModelPolicy> {
    const current = await this.policy(modelName);
    const next: ModelPolicy = {
      protectedAliases: update.protectedAliases ?? current.protectedAliases,
      gates: update.gates ?? current.gates,
      requireApproval: update.requireApproval ?? current.requireApproval,
      updatedTime: this.clock.now(),
      updatedBy: actor,
    };
    for (const a of next.protectedAliases) {
      if (!/^[\w-]+$/.test(a)) throw invalidField("protected_aliases", `'${a}' is not a valid alias name`);
    }
    try {
      parseGates(next.gates);
    } catch (e) {
      throw invalidField("gates", (e as Error).message);
    }
    await this.store.governance.setPolicy(modelName, next);
    await this.audit({ modelName, version: null, action: "set_policy", from: null, to: JSON.stringify({ protected_aliases: next.protectedAliases, gates: next.gates, require_approval: next.requireApproval }), actor, reason });
    return next;
  }

  /** Evaluates a promotion without performing it. */
  async evaluate(version: ModelVersion, p: Promotion): Promise<PromotionCheck> {
    const policy = await this.policy(version.name);
    const isProtected = p.kind === "stage" ? p.stage === "Production" : policy.protectedAliases.includes(p.alias);
    const gates: GateResult[] = [];
    if (isProtected) {
      gates.push({ gate: "status = READY", passed: version.status === "READY", detail: `status is ${version.status}${version.statusMessage !== "" ? ` (${version.statusMessage})` : ""}` });
      const run = version.runId === null ? undefined : await this.store.getRun(version.runId);
      for (const gate of policy.gates) {
        if (run === undefined) gates.push({ gate, passed: false, detail: "the version has no run to evaluate it on" });
        else gates.push(evaluateGate(gate, run));
      }
    }
    const approvals = await this.store.governance.approvals(version.name, version.version, promotionKey(p));
    return { policy, protected: isProtected, gates, approvals: approvals.map((a) => ({ approver: a.approver, reason: a.reason, time: a.createdTime })) };
  }

  /** Throws (and audits the refusal) unless the promotion may happen now. */
  async authorize(version: ModelVersion, p: Promotion, requester: string): Promise<void> {
    const check = await this.evaluate(version, p);
    if (!check.protected) return;
    const failed = check.gates.find((g) => !g.passed);
    const what = p.kind === "stage" ? `stage ${p.stage}` : `protected alias '${p.alias}'`;
    if (failed !== undefined) {
      await this.refuse(version, p, requester, `gate '${failed.gate}' failed: ${failed.detail}`);
      throw new FlywheelError(
        "FW_GOVERNANCE_GATE_FAILED",
        `Cannot move ${version.name} version ${version.version} to ${what}: gate '${failed.gate}' failed (${failed.detail})`,
        { details: { gate: failed.gate } },
      );
    }
    if (check.policy.requireApproval) {
      if (requester === "") {
        await this.refuse(version, p, requester, "approval required and the requester is anonymous");
        throw new FlywheelError("FW_GOVERNANCE_APPROVAL_REQUIRED", `Cannot move ${version.name} version ${version.version} to ${what}: the model requires approval, so the requester must identify itself (X-Flywheel-User header or basic auth)`);
      }
      if (!check.approvals.some((a) => a.approver !== requester)) {
        await this.refuse(version, p, requester, "no approval by another user");
        throw new FlywheelError(
          "FW_GOVERNANCE_APPROVAL_REQUIRED",
          `Cannot move ${version.name} version ${version.version} to ${what}: it needs an approval by a user other than '${requester}' (flywheel models approve ${version.name}/${version.version} --${p.kind === "stage" ? `stage ${p.stage}` : `alias ${p.alias}`})`,
        );
      }
    }
  }

  async approve(version: ModelVersion, p: Promotion, approver: string, reason: string): Promise<void> {
    if (approver === "") throw invalidField("approver", "an approval must name its approver (X-Flywheel-User header or basic auth)");
    await this.store.governance.addApproval(version.name, { version: version.version, action: promotionKey(p), approver, reason, createdTime: this.clock.now() });
    await this.audit({ modelName: version.name, version: version.version, action: "approve", from: null, to: promotionKey(p), actor: approver, reason });
  }

  private async refuse(version: ModelVersion, p: Promotion, actor: string, reason: string): Promise<void> {
    await this.audit({ modelName: version.name, version: version.version, action: "refused", from: null, to: promotionKey(p), actor, reason });
  }

  async audit(e: { modelName: string; version: string | null; action: AuditAction; from: string | null; to: string | null; actor: string; reason: string }): Promise<void> {
    await this.store.governance.audit({ ...e, time: this.clock.now() });
  }

  auditLog(modelName: string | undefined, afterId = 0, limit = 1000): Promise<AuditEvent[]> {
    return this.store.governance.auditLog(modelName, afterId, limit);
  }
}
