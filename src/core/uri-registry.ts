/**
 * Chooses a backend by URI scheme. Builders are loaded lazily so that heavy drivers are imported
 * only by the backend that needs them; an unknown scheme is an error listing the known ones.
 */
import { FlywheelError } from "./errors.js";

export type Builder<T, O> = (uri: string, options: O) => Promise<T>;

export class UriRegistry<T, O = Record<string, never>> {
  private readonly builders = new Map<string, Builder<T, O>>();

  constructor(private readonly what: string) {}

  register(scheme: string, builder: Builder<T, O>): this {
    this.builders.set(scheme.toLowerCase(), builder);
    return this;
  }

  schemes(): string[] {
    return [...this.builders.keys()];
  }

  async open(uri: string, options: O): Promise<T> {
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri);
    const scheme = m?.[1]?.toLowerCase();
    const builder = scheme === undefined ? undefined : this.builders.get(scheme);
    if (builder === undefined) {
      throw new FlywheelError(
        "FW_STORAGE_UNSUPPORTED_URI",
        `Unsupported ${this.what} URI '${uri}': the scheme must be one of ${this.schemes()
          .map((s) => `'${s}:'`)
          .join(", ")}`,
      );
    }
    return builder(uri, options);
  }
}
