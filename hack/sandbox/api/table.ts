/**
 * `meta.k8s.io/v1` Table responses for `kubectl get`: the CRD's additionalPrinterColumns for custom
 * resources, a few familiar columns for built-in kinds, and ages printed like the API server does.
 */
import type { PrinterColumn, ResourceType } from "./resources.ts";
import { isObject, type JsonObject, type KubeObject } from "./types.ts";

/** The API server's HumanDuration (k8s.io/apimachinery duration.HumanDuration), used for ages. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return `${s}s`;
  const minutes = Math.floor(s / 60);
  const withRest = (big: number, unit: string, rest: number, restUnit: string) =>
    rest === 0 ? `${big}${unit}` : `${big}${unit}${rest}${restUnit}`;
  if (minutes < 10) return withRest(minutes, "m", s % 60, "s");
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return withRest(hours, "h", minutes % 60, "m");
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return withRest(Math.floor(hours / 24), "d", hours % 24, "h");
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 365 * 8) return withRest(Math.floor(days / 365), "y", days % 365, "d");
  return `${Math.floor(days / 365)}y`;
}

const age = (timestamp: unknown): string =>
  typeof timestamp === "string" ? humanDuration((Date.now() - Date.parse(timestamp)) / 1000) : "<unknown>";

/** Evaluates the JSONPath subset printer columns use: `.a.b`, `[0]`, `[?(@.type=="Ready")].status`. */
export function jsonPathValue(object: unknown, path: string): unknown {
  let current: unknown[] = [object];
  const tokens = path.match(/\.[^.[]+|\[\?\(@\.[^)]*\)\]|\[\d+\]|\[\*\]/g) ?? [];
  for (const token of tokens) {
    const next: unknown[] = [];
    for (const value of current) {
      if (token.startsWith("[?(")) {
        const m = /^\[\?\(@\.([\w.]+)\s*==\s*["']([^"']*)["']\)\]$/.exec(token);
        if (m && Array.isArray(value)) {
          next.push(...value.filter((item) => String(jsonPathValue(item, `.${m[1] ?? ""}`)) === m[2]));
        }
      } else if (token === "[*]") {
        if (Array.isArray(value)) next.push(...(value as unknown[]));
      } else if (token.startsWith("[")) {
        if (Array.isArray(value)) next.push(value[Number(token.slice(1, -1))]);
      } else if (isObject(value)) {
        next.push(value[token.slice(1)]);
      }
    }
    current = next.filter((v) => v !== undefined);
  }
  return current.length === 0 ? undefined : current.length === 1 ? current[0] : current;
}

interface Column {
  definition: PrinterColumn;
  cell: (object: KubeObject) => unknown;
}

const column = (
  name: string,
  type: string,
  cell: Column["cell"],
  priority = 0,
  description = "",
): Column => ({
  definition: { name, type, format: name === "Name" ? "name" : "", description, priority, jsonPath: "" },
  cell,
});

const NAME = column("Name", "string", (o) => o.metadata.name, 0, "Name must be unique within a namespace.");
const AGE = column(
  "Age",
  "string",
  (o) => age(o.metadata.creationTimestamp),
  0,
  "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

const get = (o: unknown, path: string): unknown => jsonPathValue(o, path);

function podColumns(): Column[] {
  const statuses = (o: KubeObject) => {
    const list = get(o, ".status.containerStatuses");
    return Array.isArray(list) ? (list as JsonObject[]) : list && isObject(list) ? [list] : [];
  };
  return [
    NAME,
    column("Ready", "string", (o) => {
      const containers = get(o, ".spec.containers");
      const total = Array.isArray(containers) ? containers.length : 1;
      return `${statuses(o).filter((s) => s.ready === true).length}/${total}`;
    }),
    column("Status", "string", (o) =>
      o.metadata.deletionTimestamp ? "Terminating" : (get(o, ".status.phase") ?? "Pending"),
    ),
    column("Restarts", "integer", (o) => statuses(o).reduce((n, s) => n + Number(s.restartCount ?? 0), 0)),
    AGE,
    column("IP", "string", (o) => get(o, ".status.podIP") ?? "<none>", 1),
  ];
}

function builtinColumns(type: ResourceType): Column[] {
  switch (`${type.group}/${type.resource}`) {
    case "/pods":
      return podColumns();
    case "/services":
      return [
        NAME,
        column("Type", "string", (o) => get(o, ".spec.type") ?? "ClusterIP"),
        column("Cluster-IP", "string", (o) => get(o, ".spec.clusterIP") ?? "<none>"),
        column("External-IP", "string", (o) => get(o, ".status.loadBalancer.ingress[0].ip") ?? "<none>"),
        column("Port(s)", "string", (o) => {
          const ports = get(o, ".spec.ports");
          const list = Array.isArray(ports) ? (ports as JsonObject[]) : isObject(ports) ? [ports] : [];
          return list.map((p) => `${String(p.port)}/${String(p.protocol ?? "TCP")}`).join(",") || "<none>";
        }),
        AGE,
      ];
    case "/secrets":
      return [
        NAME,
        column("Type", "string", (o) => get(o, ".type")),
        column("Data", "integer", (o) => Object.keys((o.data as JsonObject | undefined) ?? {}).length),
        AGE,
      ];
    case "apps/statefulsets":
      return [
        NAME,
        column(
          "Ready",
          "string",
          (o) => `${Number(get(o, ".status.readyReplicas") ?? 0)}/${Number(get(o, ".spec.replicas") ?? 1)}`,
        ),
        AGE,
      ];
    case "/endpoints":
      return [
        NAME,
        column("Endpoints", "string", (o) => {
          const subsets = Array.isArray(o.subsets) ? (o.subsets as JsonObject[]) : [];
          const pairs = subsets.flatMap((subset) => {
            const addresses = (subset.addresses ?? []) as JsonObject[];
            const ports = (subset.ports ?? []) as JsonObject[];
            return addresses.flatMap((a) => ports.map((p) => `${String(a.ip)}:${String(p.port)}`));
          });
          return pairs.length > 0 ? pairs.join(",") : "<none>";
        }),
        AGE,
      ];
    case "/persistentvolumeclaims":
      return [NAME, column("Status", "string", (o) => get(o, ".status.phase")), AGE];
    case "/namespaces":
      return [NAME, column("Status", "string", (o) => get(o, ".status.phase")), AGE];
    case "/events":
      return [
        column("Last Seen", "string", (o) =>
          age(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp),
        ),
        column("Type", "string", (o) => o.type),
        column("Reason", "string", (o) => o.reason),
        column(
          "Object",
          "string",
          (o) =>
            `${String(get(o, ".involvedObject.kind") ?? "").toLowerCase()}/${String(get(o, ".involvedObject.name") ?? "")}`,
        ),
        column("Message", "string", (o) => o.message),
      ];
    default:
      return [NAME, AGE];
  }
}

function crdColumns(type: ResourceType): Column[] {
  const printer = type.printerColumns ?? [];
  if (printer.length === 0) return [NAME, AGE];
  return [
    NAME,
    ...printer.map((p) => ({
      definition: {
        ...p,
        format: p.format ?? "",
        description: p.description ?? "",
        priority: p.priority ?? 0,
      },
      cell: (o: KubeObject) => {
        const value = jsonPathValue(o, p.jsonPath);
        if (p.type === "date") return value === undefined ? "<unknown>" : age(value);
        if (Array.isArray(value)) return value.map(String).join(",");
        return value ?? null;
      },
    })),
  ];
}

/** A Table of `objects`; rows carry PartialObjectMetadata, or the full object with includeObject=Object. */
export function toTable(
  type: ResourceType,
  objects: readonly KubeObject[],
  resourceVersion: string,
  includeObject: string | null,
): JsonObject {
  const columns = type.crdName ? crdColumns(type) : builtinColumns(type);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: columns.map((c) => c.definition),
    rows: objects.map((object) => ({
      cells: columns.map((c) => c.cell(object) ?? null),
      object:
        includeObject === "Object"
          ? object
          : includeObject === "None"
            ? null
            : { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: object.metadata },
    })),
  };
}
