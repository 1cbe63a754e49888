/**
 * What the sandbox can run from an image name: Redis and Valkey images run the host's redis binaries
 * (with the official images' entrypoint behaviour); general-purpose shell images run their command on the
 * host; our own image (`redis-dr`, the Dockerfile's: `node` with the compiled programs in /app) runs the
 * programs compiled the way the Dockerfile compiles them, when the runtime was given them (RuntimeFiles.appDir);
 * anything else is represented by an idle placeholder process.
 */

export type ImageKind = "redis" | "valkey" | "shell" | "redis-dr" | "placeholder";

export function imageKind(image: string): ImageKind {
  const repository = (image.split("@")[0] ?? "").replace(/:[^/]*$/, "");
  const last = repository.split("/").pop() ?? "";
  if (last === "redis-dr") return "redis-dr";
  if (/valkey/.test(last)) return "valkey";
  if (/^redis/.test(last) && !/exporter/.test(last)) return "redis";
  if (/^(busybox|alpine|debian|ubuntu|bash)$/.test(last)) return "shell";
  return "placeholder";
}

/** The image's ENTRYPOINT and CMD, as Docker would combine them with the container's command/args. */
export function effectiveArgv(
  kind: ImageKind,
  command: string[] | undefined,
  args: string[] | undefined,
): string[] {
  if (command && command.length > 0) return [...command, ...(args ?? [])];
  switch (kind) {
    case "redis":
      return ["docker-entrypoint.sh", ...(args && args.length > 0 ? args : ["redis-server"])];
    case "valkey":
      return ["docker-entrypoint.sh", ...(args && args.length > 0 ? args : ["valkey-server"])];
    case "shell":
      return args && args.length > 0 ? args : ["sh"];
    case "redis-dr":
      // The Dockerfile: ENTRYPOINT ["node"], CMD ["webhook/main.js"].
      return ["node", ...(args && args.length > 0 ? args : ["webhook/main.js"])];
    case "placeholder":
      return ["sleep", "infinity"];
  }
}

/** The image's ENV (Docker's, beneath the container's own env). */
export const imageEnv = (kind: ImageKind): Record<string, string> =>
  kind === "redis-dr" ? { NODE_ENV: "production" } : {};

/** The image's WORKDIR: the official Redis and Valkey images work in /data (where `dir ./` writes). */
export const imageWorkingDir = (kind: ImageKind): string =>
  kind === "redis" || kind === "valkey" ? "/data" : kind === "redis-dr" ? "/app" : "/";
