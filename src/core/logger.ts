/** The pino logger every module uses; level from config, silent under tests unless asked. */
import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export function createLogger(level: LevelWithSilent = "info", name = "flywheel"): Logger {
  return pino({ name, level });
}

export const silentLogger: Logger = pino({ level: "silent" });
