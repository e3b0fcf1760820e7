/** `flywheel models lineage`: a version's lineage graph, upstream and downstream, as indented trees. */
import type { Command } from "commander";
import { asList, asObject, asString, toNumber } from "../client/normalize.js";
import type { LineageGraphResponse, WireLineageEdge, WireLineageNode, WireLineageNodeRef } from "../client/wire-types.js";
import { registryClient, versionOf, withRegistryOptions } from "./models-shared.js";
import type { RegistryFlags } from "./models-shared.js";
import { cell, formatCompact, formatFields, indent, note, printBlock, printJson, runCli } from "./output.js";

const refKey = (r: WireLineageNodeRef): string => `${r.type}\u0000${r.id}`;

/** The order upstream sources are printed in: the training chain first, then its inputs. */
const SOURCE_ORDER = ["experiment", "run", "dataset", "feature_service"];
const sourceRank = (type: string): number => {
  const i = SOURCE_ORDER.indexOf(type);
  return i === -1 ? SOURCE_ORDER.length : i;
};

/** `k=v, k=v` of a list of `{key, value}` details, sorted by key; numbers compact. */
function keyValues(v: unknown): string {
  const pairs = asList(v).map((x) => {
    const o = asObject(x);
    const value = typeof o.value === "number" || o.value === "NaN" || o.value === "Infinity" || o.value === "-Infinity" ? formatCompact(toNumber(o.value)) : asString(o.value);
    return [asString(o.key), value] as const;
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return pairs.map(([k, val]) => `${k}=${val}`).join(", ");
}

/** One node: a title line and detail fields. */
export function describeLineageNode(ref: WireLineageNodeRef, node: WireLineageNode | undefined): { title: string; fields: [string, string][] } {
  const d = node?.details ?? {};
  const missing = node?.found === false ? " (not found)" : "";
  const fields: [string, string][] = [];
  const field = (label: string, value: string) => {
    if (value !== "") fields.push([label, cell(value)]);
  };
  switch (ref.type) {
    case "model_version": {
      const aliases = asList(d.aliases).map(asString).join(", ");
      const state = node?.found === false ? "" : ` (${asString(d.status)}, stage ${asString(d.stage)}${aliases === "" ? "" : `, aliases ${aliases}`})`;
      return { title: `model version ${cell(ref.id)}${state}${missing}`, fields };
    }
    case "run": {
      const name = asString(d.run_name);
      field("Git commit", asString(d.code_version));
      field("Source", asString(d.source_name));
      field("Params", keyValues(d.params));
      field("Metrics", keyValues(d.metrics));
      const status = asString(d.status);
      return { title: `run ${name === "" ? ref.id : `${cell(name)} (${ref.id})`}${status === "" ? "" : `, ${status}`}${missing}`, fields };
    }
    case "experiment": {
      const name = asString(d.name);
      return { title: `experiment ${name === "" ? ref.id : `${cell(name)} (id ${ref.id})`}${missing}`, fields };
    }
    case "dataset": {
      const versions = asList(d.versions).map(asString);
      const which = versions.length === 0 ? "" : versions.length === 1 ? ` (version ${versions[0] ?? ""})` : ` (versions ${versions.join(", ")})`;
      return { title: `dataset ${cell(ref.id)}${which}${missing}`, fields };
    }
    case "feature_service":
      field("Features", asList(d.features).map(asString).join(", "));
      return { title: `feature service ${cell(ref.id)}${missing}`, fields };
    default:
      return { title: `${ref.type.replace(/_/g, " ")} ${cell(ref.id)}${missing}`, fields };
  }
}

/**
 * The graph as indented trees: upstream from each source (experiment, dataset, feature service)
 * down to the version, then the version's downstream nodes.
 */
export function formatLineage(g: LineageGraphResponse): string {
  const nodes = new Map(g.nodes.map((n) => [refKey(n), n]));
  const rootKey = refKey(g.root);
  const incoming = new Map<string, WireLineageEdge[]>();
  const outgoing = new Map<string, WireLineageEdge[]>();
  for (const e of g.edges) {
    incoming.set(refKey(e.dst), [...(incoming.get(refKey(e.dst)) ?? []), e]);
    outgoing.set(refKey(e.src), [...(outgoing.get(refKey(e.src)) ?? []), e]);
  }
  // Upstream: everything from which the root is reachable.
  const upstream = new Set<string>([rootKey]);
  for (let frontier = [rootKey]; frontier.length > 0; ) {
    const next: string[] = [];
    for (const k of frontier) {
      for (const e of incoming.get(k) ?? []) {
        const src = refKey(e.src);
        if (!upstream.has(src)) {
          upstream.add(src);
          next.push(src);
        }
      }
    }
    frontier = next;
  }
  const lines: string[] = [];
  const pad = (depth: number) => `  ${"   ".repeat(depth)}`;
  const render = (ref: WireLineageNodeRef, relation: string | undefined, depth: number, follow: (e: WireLineageEdge) => boolean, path: Set<string>) => {
    const key = refKey(ref);
    const { title, fields } = key === rootKey ? { title: `model version ${cell(ref.id)}`, fields: [] } : describeLineageNode(ref, nodes.get(key));
    lines.push(relation === undefined ? `${pad(depth)}${title}` : `${pad(depth - 1)}└─ ${relation} → ${title}`);
    if (fields.length > 0) lines.push(indent(formatFields(fields), `${pad(depth)}   `).trimEnd());
    if (path.has(key)) return;
    const inner = new Set(path).add(key);
    for (const e of outgoing.get(key) ?? []) if (follow(e)) render(e.dst, e.relation, depth + 1, follow, inner);
  };

  const root = describeLineageNode(g.root, nodes.get(rootKey));
  lines.push(root.title.replace(/^model version /, "Model version "));
  const rootNode = nodes.get(rootKey);
  const rootFields: [string, string][] = [];
  if (rootNode !== undefined) {
    const source = asString(rootNode.details.source);
    const message = asString(rootNode.details.status_message);
    if (message !== "") rootFields.push(["  Status message", cell(message)]);
    if (source !== "") rootFields.push(["  Source", cell(source)]);
  }
  if (rootFields.length > 0) lines.push(formatFields(rootFields).trimEnd());

  lines.push("");
  const towardRoot = (e: WireLineageEdge) => upstream.has(refKey(e.dst));
  const sources = [...upstream].filter((k) => k !== rootKey && !(incoming.get(k) ?? []).some((e) => upstream.has(refKey(e.src))));
  if (upstream.size === 1) lines.push("Upstream: none");
  else {
    lines.push("Upstream:");
    // A cycle without a source still gets printed from its first node.
    const starts = sources.length > 0 ? sources : [...upstream].filter((k) => k !== rootKey).slice(0, 1);
    const refs = starts
      .map((k) => nodes.get(k) ?? g.edges.map((e) => e.src).find((r) => refKey(r) === k))
      .filter((r): r is WireLineageNodeRef => r !== undefined)
      .sort((a, b) => sourceRank(a.type) - sourceRank(b.type));
    for (const r of refs) render(r, undefined, 0, towardRoot, new Set());
  }
  lines.push("");
  const away = (e: WireLineageEdge) => !upstream.has(refKey(e.dst));
  if (!(outgoing.get(rootKey) ?? []).some(away)) lines.push("Downstream: none");
  else {
    lines.push("Downstream:");
    render(g.root, undefined, 0, away, new Set());
  }
  return `${lines.join("\n")}\n`;
}

export function addLineageCommand(models: Command): void {
  withRegistryOptions(models.command("lineage").description("Show a version's lineage: experiment, run, datasets, feature service upstream; deployments downstream"))
    .argument("<version>", "NAME/VERSION (or NAME@ALIAS, any models:/ URI)")
    .action(
      runCli(async (value: string, flags: RegistryFlags) => {
        const client = registryClient(flags);
        const { name, version } = await versionOf(client, value);
        const graph = await client.registry.lineage(name, version);
        if (flags.json) {
          printJson(graph);
          return;
        }
        printBlock(formatLineage(graph));
        if (graph.truncated) note("(the graph is truncated: the server stopped at its node limit)");
      }),
    );
}
