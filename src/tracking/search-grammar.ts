/**
 * MLflow's search grammar: `AND`-joined comparisons on `metrics.*`, `params.*`, `tags.*`,
 * attributes and (runs) `datasets.name|digest|context`, with quoted or backticked keys, plus
 * `order_by` clauses. Errors name the token.
 *
 * @example parseFilter("metrics.auc > 0.9 and params.`learning rate` = '0.1'", "run")
 */
import { FlywheelError } from "../core/errors.js";
import type { Comparator, Comparison, EntityType, OrderByClause, SearchFilter } from "../storage/metadata/search-types.js";

type TokenKind = "word" | "string" | "quoted-ident" | "number" | "op" | "lparen" | "rparen" | "comma" | "dot";
interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
}

export type SearchTarget = "run" | "experiment" | "registry" | "logged_model";

const PREFIXES: Record<string, EntityType> = {
  metric: "metric",
  metrics: "metric",
  param: "param",
  params: "param",
  parameter: "param",
  parameters: "param",
  tag: "tag",
  tags: "tag",
  attribute: "attribute",
  attributes: "attribute",
  attr: "attribute",
  run: "attribute",
  dataset: "dataset",
  datasets: "dataset",
};

/** What a run's datasets can be filtered on: the dataset's name and digest, the input's context tag. */
export const DATASET_KEYS: readonly string[] = ["name", "digest", "context"];

const NUMERIC_ATTRIBUTES = new Set([
  "start_time",
  "end_time",
  "creation_time",
  "last_update_time",
  "experiment_id",
  "creation_timestamp",
  "last_updated_timestamp",
  "last_updated_time",
  "version_number",
]);
const ATTRIBUTE_ALIASES: Record<string, string> = { created: "start_time", Created: "start_time", run_uuid: "run_id" };
const STRING_OPS: readonly Comparator[] = ["=", "!=", "LIKE", "ILIKE"];
const NUMERIC_OPS: readonly Comparator[] = ["=", "!=", ">", ">=", "<", "<="];

function fail(input: string, message: string): never {
  throw new FlywheelError("FW_SEARCH_INVALID_FILTER", `Invalid search expression '${input}': ${message}`);
}

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const start = i;
    if (ch === "'" || ch === '"' || ch === "`") {
      let text = "";
      i++;
      for (;;) {
        if (i >= input.length) fail(input, `unterminated quote starting at position ${start}: ${input.slice(start, start + 40)}`);
        const c = input[i] as string;
        if (c === ch) {
          // A doubled quote inside a literal stands for the quote itself.
          if (input[i + 1] === ch) {
            text += ch;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (c === "\\" && i + 1 < input.length) {
          text += input[i + 1];
          i += 2;
          continue;
        }
        text += c;
        i++;
      }
      tokens.push({ kind: ch === "'" ? "string" : ch === "`" ? "quoted-ident" : "string", text, pos: start });
      // A double-quoted token directly after a dot is a key, as in tags."my key".
      if (ch === '"' && tokens.at(-2)?.kind === "dot") (tokens.at(-1) as Token).kind = "quoted-ident";
      continue;
    }
    const two = input.slice(i, i + 2);
    if (two === "!=" || two === ">=" || two === "<=" || two === "<>") {
      tokens.push({ kind: "op", text: two === "<>" ? "!=" : two, pos: start });
      i += 2;
      continue;
    }
    if (ch === "=" || ch === ">" || ch === "<") {
      tokens.push({ kind: "op", text: ch, pos: start });
      i++;
      continue;
    }
    if (ch === "(" || ch === ")" || ch === ",") {
      tokens.push({ kind: ch === "(" ? "lparen" : ch === ")" ? "rparen" : "comma", text: ch, pos: start });
      i++;
      continue;
    }
    const num = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(input.slice(i));
    if (num !== null && (tokens.length === 0 || tokens.at(-1)?.kind === "op" || tokens.at(-1)?.kind === "lparen" || tokens.at(-1)?.kind === "comma")) {
      tokens.push({ kind: "number", text: num[0], pos: start });
      i += num[0].length;
      continue;
    }
    if (ch === ".") {
      tokens.push({ kind: "dot", text: ".", pos: start });
      i++;
      continue;
    }
    const word = /^[\p{L}\p{N}_][\p{L}\p{N}_\-/:]*/u.exec(input.slice(i));
    if (word !== null) {
      // After "prefix." the whole rest of an unquoted key, dots included, is one name.
      const afterDot = tokens.at(-1)?.kind === "dot";
      const text = afterDot ? (/^[\p{L}\p{N}_\-/:.]+/u.exec(input.slice(i)) as RegExpExecArray)[0] : word[0];
      tokens.push({ kind: "word", text, pos: start });
      i += text.length;
      continue;
    }
    fail(input, `unexpected character '${ch}' at position ${start}`);
  }
  return tokens;
}

class Cursor {
  private i = 0;
  constructor(
    readonly input: string,
    private readonly tokens: Token[],
  ) {}
  peek(offset = 0): Token | undefined {
    return this.tokens[this.i + offset];
  }
  next(): Token | undefined {
    return this.tokens[this.i++];
  }
  done(): boolean {
    return this.i >= this.tokens.length;
  }
  isWord(text: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t?.kind === "word" && t.text.toUpperCase() === text;
  }
  describe(t: Token | undefined): string {
    return t === undefined ? "the end of the expression" : `'${t.text}' at position ${t.pos}`;
  }
}

function parseIdentifier(c: Cursor, target: SearchTarget): { type: EntityType; key: string } {
  const first = c.next();
  if (first === undefined || (first.kind !== "word" && first.kind !== "quoted-ident")) {
    fail(c.input, `expected an identifier such as metrics.<key>, params.<key>, tags.<key> or an attribute, found ${c.describe(first)}`);
  }
  if (c.peek()?.kind === "dot") {
    c.next();
    const keyTok = c.next();
    if (keyTok === undefined || (keyTok.kind !== "word" && keyTok.kind !== "quoted-ident" && keyTok.kind !== "string")) {
      fail(c.input, `expected a key after '${first.text}.', found ${c.describe(keyTok)}`);
    }
    const type = PREFIXES[first.text.toLowerCase()];
    if (type === undefined) {
      fail(c.input, `invalid entity type '${first.text}' at position ${first.pos}: expected metrics, params, tags, attributes or datasets`);
    }
    if (target === "logged_model" && type === "dataset") {
      fail(c.input, `'${first.text}.${keyTok.text}' at position ${first.pos}: logged models are searched by metrics, params, tags and attributes (pass datasets in the request's 'datasets' field)`);
    }
    if (target !== "run" && target !== "logged_model" && (type === "metric" || type === "param" || type === "dataset")) {
      fail(c.input, `'${first.text}.${keyTok.text}' at position ${first.pos}: ${target === "experiment" ? "experiments" : "registered models and versions"} can be searched by attributes and tags only`);
    }
    const key = type === "attribute" ? (ATTRIBUTE_ALIASES[keyTok.text] ?? keyTok.text) : keyTok.text;
    if (type === "dataset" && !DATASET_KEYS.includes(key)) {
      fail(c.input, `invalid dataset key '${keyTok.text}' at position ${keyTok.pos}: expected ${DATASET_KEYS.map((k) => `datasets.${k}`).join(", ")}`);
    }
    return { type, key };
  }
  return { type: "attribute", key: ATTRIBUTE_ALIASES[first.text] ?? first.text };
}

function parseComparator(c: Cursor, ident: string): Comparator {
  const t = c.peek();
  if (t?.kind === "op") {
    c.next();
    return t.text as Comparator;
  }
  if (c.isWord("LIKE") || c.isWord("ILIKE") || c.isWord("IN")) {
    return (c.next() as Token).text.toUpperCase() as Comparator;
  }
  if (c.isWord("NOT") && c.isWord("IN", 1)) {
    c.next();
    c.next();
    return "NOT IN";
  }
  if (c.isWord("IS")) {
    c.next();
    if (c.isWord("NULL")) {
      c.next();
      return "IS NULL";
    }
    if (c.isWord("NOT") && c.isWord("NULL", 1)) {
      c.next();
      c.next();
      return "IS NOT NULL";
    }
    fail(c.input, `expected NULL or NOT NULL after IS, found ${c.describe(c.peek())}`);
  }
  fail(c.input, `expected a comparator (=, !=, >, >=, <, <=, LIKE, ILIKE, IN, IS NULL) after '${ident}', found ${c.describe(t)}`);
}

function parseValue(c: Cursor, comparator: Comparator, ident: string, numeric: boolean): Comparison["value"] {
  if (comparator === "IS NULL" || comparator === "IS NOT NULL") return null;
  if (comparator === "IN" || comparator === "NOT IN") {
    const open = c.next();
    if (open?.kind !== "lparen") fail(c.input, `expected '(' after ${comparator}, found ${c.describe(open)}`);
    const items: string[] = [];
    for (;;) {
      const v = c.next();
      if (v?.kind !== "string") fail(c.input, `expected a quoted string in the ${comparator} list of '${ident}', found ${c.describe(v)}`);
      items.push(v.text);
      const sep = c.next();
      if (sep?.kind === "rparen") break;
      if (sep?.kind !== "comma") fail(c.input, `expected ',' or ')' in the ${comparator} list, found ${c.describe(sep)}`);
    }
    return items;
  }
  const v = c.next();
  if (numeric) {
    if (v?.kind !== "number") fail(c.input, `expected a number after '${ident} ${comparator}', found ${c.describe(v)}`);
    return Number(v.text);
  }
  if (v?.kind !== "string") {
    fail(c.input, `expected a quoted string after '${ident} ${comparator}', found ${c.describe(v)}`);
  }
  return v.text;
}

function allowedOps(type: EntityType, key: string, numeric: boolean): readonly Comparator[] {
  if (type === "metric" || numeric) return NUMERIC_OPS;
  if (type === "attribute" && (key === "run_id")) return ["=", "!=", "IN", "NOT IN", "LIKE", "ILIKE"];
  if (type === "param" || type === "tag") return [...STRING_OPS, "IS NULL", "IS NOT NULL"];
  if (type === "dataset") return [...STRING_OPS, "IN", "NOT IN"];
  return STRING_OPS;
}

/** Parses a filter string into comparisons; an empty or blank filter is an empty list. */
export function parseFilter(input: string | undefined, target: SearchTarget): SearchFilter {
  if (input === undefined || input.trim() === "") return [];
  const c = new Cursor(input, tokenize(input));
  const out: Comparison[] = [];
  for (;;) {
    const identTok = c.peek();
    const { type, key } = parseIdentifier(c, target);
    const ident = `${type === "attribute" ? "" : `${type}s.`}${key}`;
    const numeric = type === "metric" || (type === "attribute" && NUMERIC_ATTRIBUTES.has(key));
    const comparator = parseComparator(c, ident);
    if (!allowedOps(type, key, numeric).includes(comparator)) {
      fail(
        input,
        `comparator '${comparator}' at position ${identTok?.pos ?? 0} is not allowed for '${ident}' (allowed: ${allowedOps(type, key, numeric).join(", ")})`,
      );
    }
    out.push({ type, key, comparator, value: parseValue(c, comparator, ident, numeric) });
    if (c.done()) break;
    if (!c.isWord("AND")) {
      const t = c.peek();
      const hint = t?.kind === "word" && t.text.toUpperCase() === "OR" ? " (OR is not supported; only AND)" : "";
      fail(input, `expected AND or the end of the expression, found ${c.describe(t)}${hint}`);
    }
    c.next();
  }
  return out;
}

/** Parses order_by clauses such as `metrics.auc DESC` or `start_time`. */
export function parseOrderBy(clauses: readonly string[] | undefined, target: SearchTarget): OrderByClause[] {
  return (clauses ?? [])
    .filter((s) => s.trim() !== "")
    .map((input) => {
      const c = new Cursor(input, tokenize(input));
      const { type, key } = parseIdentifier(c, target);
      let ascending = true;
      if (c.isWord("ASC") || c.isWord("DESC")) ascending = (c.next() as Token).text.toUpperCase() === "ASC";
      if (!c.done()) fail(input, `expected ASC, DESC or the end of the order_by clause, found ${c.describe(c.peek())}`);
      return { type, key, ascending };
    });
}
