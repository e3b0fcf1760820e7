/** The GovernanceStore port: per-model promotion policy, approvals and the registry audit log. */

export interface ModelPolicy {
  /** Aliases that only move through gates (and approval, when required). */
  protectedAliases: string[];
  /** Gate expressions in the run search grammar, e.g. "metrics.auc >= 0.9". */
  gates: string[];
  requireApproval: boolean;
  updatedTime: number;
  updatedBy: string;
}

export interface Approval {
  version: string;
  /** "stage:Production" or "alias:<name>". */
  action: string;
  approver: string;
  reason: string;
  createdTime: number;
}

export type AuditAction =
  | "create_model"
  | "rename_model"
  | "delete_model"
  | "create_version"
  | "delete_version"
  | "transition_stage"
  | "set_alias"
  | "delete_alias"
  | "approve"
  | "set_policy"
  | "refused";

export interface AuditEvent {
  id: number;
  modelName: string;
  version: string | null;
  action: AuditAction;
  from: string | null;
  to: string | null;
  actor: string;
  reason: string;
  time: number;
}

export interface GovernanceStore {
  getPolicy(modelName: string): Promise<ModelPolicy | undefined>;
  setPolicy(modelName: string, policy: ModelPolicy): Promise<void>;
  addApproval(modelName: string, approval: Approval): Promise<void>;
  approvals(modelName: string, version: string, action: string): Promise<Approval[]>;
  audit(event: Omit<AuditEvent, "id">): Promise<void>;
  /** Events of one model (or all models), oldest first, after `afterId`. */
  auditLog(modelName: string | undefined, afterId: number, limit: number): Promise<AuditEvent[]>;
}
