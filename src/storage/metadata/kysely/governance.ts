/** The GovernanceStore on Kysely: policies, approvals and the audit log. */
import type { Kysely } from "kysely";
import { FlywheelError } from "../../../core/errors.js";
import type { Approval, AuditAction, AuditEvent, GovernanceStore, ModelPolicy } from "../governance-store.js";
import type { Database } from "../schema.js";

function jsonList(text: string): string[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}

export class GovernanceQueries implements GovernanceStore {
  constructor(private readonly db: Kysely<Database>) {}

  private async modelId(name: string): Promise<number> {
    const row = await this.db.selectFrom("registered_models").select("model_id").where("name", "=", name).executeTakeFirst();
    if (row === undefined) throw new FlywheelError("FW_REGISTRY_MODEL_NOT_FOUND", `Registered Model with name=${name} not found`);
    return Number(row.model_id);
  }

  async getPolicy(modelName: string): Promise<ModelPolicy | undefined> {
    const row = await this.db
      .selectFrom("model_policies as p")
      .innerJoin("registered_models as m", "m.model_id", "p.model_id")
      .selectAll("p")
      .where("m.name", "=", modelName)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    return {
      protectedAliases: jsonList(row.protected_aliases),
      gates: jsonList(row.gates),
      requireApproval: Number(row.require_approval) === 1,
      updatedTime: Number(row.updated_time),
      updatedBy: row.updated_by,
    };
  }

  async setPolicy(modelName: string, policy: ModelPolicy): Promise<void> {
    const id = await this.modelId(modelName);
    const values = {
      protected_aliases: JSON.stringify(policy.protectedAliases),
      gates: JSON.stringify(policy.gates),
      require_approval: policy.requireApproval ? 1 : 0,
      updated_time: policy.updatedTime,
      updated_by: policy.updatedBy,
    };
    await this.db
      .insertInto("model_policies")
      .values({ model_id: id, ...values })
      .onConflict((oc) => oc.column("model_id").doUpdateSet(values))
      .execute();
  }

  async addApproval(modelName: string, a: Approval): Promise<void> {
    const id = await this.modelId(modelName);
    await this.db
      .insertInto("model_approvals")
      .values({ model_id: id, version: Number(a.version), action: a.action, approver: a.approver, reason: a.reason, created_time: a.createdTime })
      .execute();
  }

  async approvals(modelName: string, version: string, action: string): Promise<Approval[]> {
    const id = await this.modelId(modelName);
    const rows = await this.db
      .selectFrom("model_approvals")
      .selectAll()
      .where("model_id", "=", id)
      .where("version", "=", Number(version))
      .where("action", "=", action)
      .orderBy("approval_id")
      .execute();
    return rows.map((r) => ({ version: String(r.version), action: r.action, approver: r.approver, reason: r.reason, createdTime: Number(r.created_time) }));
  }

  async audit(e: Omit<AuditEvent, "id">): Promise<void> {
    await this.db
      .insertInto("registry_audit_log")
      .values({
        model_name: e.modelName,
        version: e.version === null ? null : Number(e.version),
        action: e.action,
        from_value: e.from,
        to_value: e.to,
        actor: e.actor,
        reason: e.reason,
        created_time: e.time,
      })
      .execute();
  }

  async auditLog(modelName: string | undefined, afterId: number, limit: number): Promise<AuditEvent[]> {
    let q = this.db.selectFrom("registry_audit_log").selectAll().where("event_id", ">", afterId);
    if (modelName !== undefined) q = q.where("model_name", "=", modelName);
    const rows = await q.orderBy("event_id").limit(limit).execute();
    return rows.map((r) => ({
      id: Number(r.event_id),
      modelName: r.model_name,
      version: r.version === null ? null : String(r.version),
      action: r.action as AuditAction,
      from: r.from_value,
      to: r.to_value,
      actor: r.actor,
      reason: r.reason,
      time: Number(r.created_time),
    }));
  }
}
