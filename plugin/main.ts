/**
 * `kubectl redis-dr`: status, promote, demote and switchover of a RedisCluster for the person on call. It loads the
 * kubeconfig as kubectl does (--kubeconfig, KUBECONFIG, --context, -n/--namespace) and changes nothing
 * without printing the exact merge patch first.
 *
 * Exit codes: 0 done, 1 refused or failed (the message says why), 2 wrong usage.
 */
import { createInterface } from "node:readline/promises";
import { parseArgs } from "node:util";
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../schemas/rediscluster.ts";
import { apiErrorCode, isRedisCluster } from "../controller/kube/cluster-api.ts";
import {
  describeChange,
  planDemote,
  parseHandoffAddress,
  planPromote,
  planSwitchover,
  renderStatus,
  type HandoffAddress,
  type NamedCluster,
  type Plan,
} from "./render.ts";

const USAGE = `Usage: kubectl redis-dr COMMAND NAME [flags]

Commands:
  status NAME               roles, offsets, link, last promotion and conditions of a RedisCluster
  promote NAME              promote a replica cluster (spec.replicaMode.promote: true)
  demote NAME               undo a completed promotion with its demotion token (discards writes since)
  switchover NAME --handoff-address HOST[:PORT]
                            prepare a replica cluster to take the primary role from its source without
                            losing a write (promoteBy: Handoff), and print the source's change

Flags:
  -n, --namespace NS        the cluster's namespace (default: the context's, else "default")
      --context NAME        the kubeconfig context to use
      --kubeconfig PATH     the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
  -o, --output json         status: print the raw status as JSON
      --handoff-address A   switchover: where the source's region reaches this cluster's leader
      --dry-run             promote/demote/switchover: print the change, make none
  -y, --yes                 promote/demote/switchover: do not ask for confirmation
`;

/** A failure to report: its message, and the exit code. */
class Failure extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

interface Options {
  readonly command: string;
  readonly name: string;
  readonly namespace: string | undefined;
  readonly context: string | undefined;
  readonly kubeconfig: string | undefined;
  readonly output: string | undefined;
  readonly dryRun: boolean;
  readonly yes: boolean;
  readonly handoffAddress: HandoffAddress | undefined;
}

function parse(argv: readonly string[]): Options | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        namespace: { type: "string", short: "n" },
        context: { type: "string" },
        kubeconfig: { type: "string" },
        output: { type: "string", short: "o" },
        "handoff-address": { type: "string" },
        "dry-run": { type: "boolean", default: false },
        yes: { type: "boolean", short: "y", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new Failure(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) return "help";
  const [command = "", name, ...rest] = positionals;
  if (!["status", "promote", "demote", "switchover"].includes(command)) {
    throw new Failure(`unknown command "${command}"\n\n${USAGE}`, 2);
  }
  if (name === undefined || rest.length > 0) {
    throw new Failure(`${command} takes exactly one RedisCluster name\n\n${USAGE}`, 2);
  }
  if (values.output !== undefined && (values.output !== "json" || command !== "status")) {
    throw new Failure(`-o ${values.output}: only "status -o json" is supported`, 2);
  }
  const handoffText = values["handoff-address"];
  if (command === "switchover" && handoffText === undefined) {
    throw new Failure(
      "switchover needs --handoff-address HOST[:PORT]: the address the source's region reaches this cluster's leader at",
      2,
    );
  }
  if (handoffText !== undefined && command !== "switchover") {
    throw new Failure("--handoff-address: only switchover takes it", 2);
  }
  const handoffAddress = handoffText === undefined ? undefined : parseHandoffAddress(handoffText);
  if (handoffText !== undefined && handoffAddress === undefined) {
    throw new Failure(`--handoff-address ${handoffText}: expected HOST[:PORT]`, 2);
  }
  return {
    command,
    name,
    handoffAddress,
    namespace: values.namespace,
    context: values.context,
    kubeconfig: values.kubeconfig,
    output: values.output,
    dryRun: values["dry-run"],
    yes: values.yes,
  };
}

/** The kubeconfig and namespace kubectl would use with the same flags and environment. */
function loadKubeConfig(options: Options): { kubeConfig: KubeConfig; namespace: string } {
  const kubeConfig = new KubeConfig();
  try {
    if (options.kubeconfig !== undefined) kubeConfig.loadFromFile(options.kubeconfig);
    else kubeConfig.loadFromDefault();
  } catch (error) {
    throw new Failure(
      `cannot load the kubeconfig: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (options.context !== undefined) {
    if (kubeConfig.getContextObject(options.context) === null) {
      throw new Failure(`context "${options.context}" does not exist in the kubeconfig`);
    }
    kubeConfig.setCurrentContext(options.context);
  }
  const contextNamespace = kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
  return { kubeConfig, namespace: options.namespace ?? contextNamespace ?? "default" };
}

/** The API server's own message of a failed call (its Status body), else the error's. */
function serverMessage(error: unknown): string {
  if (typeof error === "object" && error !== null && "body" in error) {
    const body = (error as { body: unknown }).body;
    try {
      const status: unknown = typeof body === "string" ? JSON.parse(body) : body;
      if (typeof status === "object" && status !== null && "message" in status) {
        return String((status as { message: unknown }).message);
      }
    } catch {
      // Not a Status: fall through to the error's own message.
    }
  }
  return error instanceof Error ? error.message : String(error);
}

function apiFailure(error: unknown, what: string, namespace: string, name: string): Failure {
  const code = apiErrorCode(error);
  if (code === 404) {
    return new Failure(`RedisCluster "${name}" not found in namespace "${namespace}"`);
  }
  if (code === 401 || code === 403) {
    return new Failure(`no access to ${what} RedisCluster ${namespace}/${name}: ${serverMessage(error)}`);
  }
  if (code !== undefined)
    return new Failure(`the API server refused to ${what} ${namespace}/${name}: ${serverMessage(error)}`);
  return new Failure(`cannot ${what} RedisCluster ${namespace}/${name}: ${serverMessage(error)}`);
}

async function getCluster(api: CustomObjectsApi, namespace: string, name: string): Promise<NamedCluster> {
  let object: unknown;
  try {
    object = await api.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      name,
    });
  } catch (error) {
    throw apiFailure(error, "read", namespace, name);
  }
  if (!isRedisCluster(object)) throw new Failure(`${namespace}/${name} is not a RedisCluster`);
  return object as NamedCluster;
}

/** Reads one answer from stdin (a terminal or a pipe): only "yes" or "y" confirm. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`${question} Type "yes" to continue: `);
    return ["yes", "y"].includes(answer.trim().toLowerCase());
  } catch {
    return false; // stdin closed without an answer
  } finally {
    rl.close();
  }
}

async function change(
  api: CustomObjectsApi,
  cluster: NamedCluster,
  plan: Plan,
  options: Options,
): Promise<void> {
  if (plan.kind === "refused") throw new Failure(plan.reason);
  const { name, namespace } = cluster.metadata;
  process.stdout.write(describeChange(cluster, plan.change));
  if (options.dryRun) {
    process.stdout.write("Dry run: nothing changed.\n");
    return;
  }
  if (!options.yes && !(await confirm(plan.change.question))) {
    throw new Failure("not confirmed: nothing changed");
  }
  try {
    await api.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: plan.change.patch },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  } catch (error) {
    throw apiFailure(error, "patch", namespace, name);
  }
  process.stdout.write(
    `rediscluster.redis.io/${name} patched\n` +
      `Watch it: kubectl -n ${namespace} get rediscluster ${name} -w, or kubectl redis-dr status ${name} -n ${namespace}\n`,
  );
}

async function main(argv: readonly string[]): Promise<void> {
  const options = parse(argv);
  if (options === "help") {
    process.stdout.write(USAGE);
    return;
  }
  const { kubeConfig, namespace } = loadKubeConfig(options);
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const cluster = await getCluster(api, namespace, options.name);
  switch (options.command) {
    case "status":
      process.stdout.write(
        options.output === "json"
          ? `${JSON.stringify(cluster.status ?? {}, null, 2)}\n`
          : renderStatus(cluster),
      );
      return;
    case "promote":
      return change(api, cluster, planPromote(cluster), options);
    case "demote":
      return change(api, cluster, planDemote(cluster), options);
    case "switchover":
      if (options.handoffAddress === undefined) return; // refused by parse
      return change(api, cluster, planSwitchover(cluster, options.handoffAddress), options);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    if (error instanceof Failure) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(error.exitCode);
    }
    process.stderr.write(
      `error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
