/** Readable random run names in MLflow's style (`adjective-noun-123`). */
import { randomInt } from "node:crypto";

const ADJECTIVES = [
  "able", "bold", "brave", "bright", "calm", "clever", "crisp", "eager", "fair", "gentle",
  "glad", "grand", "honest", "keen", "kind", "lively", "lucky", "merry", "nimble", "polite",
  "proud", "quick", "quiet", "rare", "sharp", "shy", "smart", "steady", "swift", "tidy",
  "upbeat", "vivid", "warm", "wise", "witty", "zesty",
];
const NOUNS = [
  "ant", "bass", "bee", "cat", "crane", "deer", "dove", "duck", "eel", "finch",
  "fox", "frog", "goat", "hare", "hawk", "heron", "lark", "lynx", "mole", "moth",
  "newt", "otter", "owl", "panda", "quail", "ram", "robin", "seal", "shrew", "snail",
  "swan", "toad", "trout", "wasp", "whale", "wren",
];

export function randomRunName(): string {
  const a = ADJECTIVES[randomInt(ADJECTIVES.length)] as string;
  const n = NOUNS[randomInt(NOUNS.length)] as string;
  return `${a}-${n}-${randomInt(1000)}`;
}
