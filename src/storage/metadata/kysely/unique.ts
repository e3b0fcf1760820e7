/** Recognizing a unique-constraint violation from either driver. */

/** True for a unique-constraint violation from PostgreSQL (23505) or SQLite. */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: unknown };
  return err.code === "23505" || err.code === "SQLITE_CONSTRAINT_UNIQUE" || err.code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}
