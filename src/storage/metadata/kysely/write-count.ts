/**
 * A count of a store's writes, for readers that cache what the store holds: each listed method
 * bumps the count when it starts and again when it has ended (committed or failed), so a value read
 * while the count stood still was not changed by this process meanwhile.
 */
export class WriteCount {
  private n = 0;

  get value(): number {
    return this.n;
  }

  /** Replaces each of `methods` on `target` by a wrapper that counts the call's start and end. */
  wrap<T extends object>(target: T, methods: readonly (keyof T)[]): void {
    for (const name of methods) {
      const write = (target[name] as (...args: unknown[]) => Promise<unknown>).bind(target);
      (target as Record<keyof T, unknown>)[name] = async (...args: unknown[]) => {
        this.n++;
        try {
          return await write(...args);
        } finally {
          this.n++;
        }
      };
    }
  }
}
