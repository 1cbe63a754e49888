/**
 * `spec.replicaMode.source`: a port in range, a host when replication is enabled, a host that is a DNS name
 * or an IP address, and never one of this cluster's own Services (a cluster replicating from itself).
 */
import { isIP } from "node:net";
import { ENABLED_NEEDS_HOST } from "../../../schemas/rediscluster.ts";
import type { FieldPath } from "../../../kube-common/field-path.ts";
import { invalid, required, type FieldError } from "../../../kube-common/field-errors.ts";
import { metadataString, replicaModeOf, sourceOf, stringField, type RedisCluster } from "./cluster.ts";

/**
 * The Services a RedisCluster named `name` owns, as the controller names them (controller/kube/resources.ts):
 * the leader Service, the replicas (read) Service and the headless Service.
 */
function ownServiceNames(name: string): string[] {
  return [`${name}-leader`, `${name}-replicas`, `${name}-headless`];
}

/** The headless Service gives each pod a DNS name `<name>-<ordinal>.<name>-headless`. */
function headlessServiceNames(name: string): string[] {
  return [`${name}-headless`];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Whether `host` names one of the cluster's own Services (or pods) in its namespace, in any form cluster DNS
 * resolves: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<cluster domain>`.
 */
export function isOwnService(host: string, name: string, namespace: string): boolean {
  if (name === "") return false;
  const normalized = host.toLowerCase().replace(/\.$/, "");
  // A short name resolves in the client's own namespace, i.e. this cluster's.
  const inNamespace = (service: string) =>
    new RegExp(`^${service}(\\.${escape(namespace)}(\\.svc(\\..+)?)?)?$`);
  const services = ownServiceNames(name).map(escape);
  const pods = headlessServiceNames(name).map((h) => `${escape(name)}-\\d+\\.${escape(h)}`);
  return [...services, ...pods].some((pattern) => inNamespace(pattern).test(normalized));
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i;

/** A DNS name (RFC 1123, case-insensitive, one trailing dot allowed) or an IPv4/IPv6 address. */
export function isValidHost(host: string): boolean {
  if (isIP(host) !== 0) return true;
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  // Dotted digits that are not an IPv4 address are a typo, not a DNS name.
  if (/^[\d.]+$/.test(name)) return false;
  return name.length > 0 && name.length <= 253 && name.split(".").every((label) => DNS_LABEL.test(label));
}

export function validateReplicaSource(cluster: RedisCluster, path: FieldPath): FieldError[] {
  const replicaMode = replicaModeOf(cluster);
  if (replicaMode === undefined) return [];
  const sourcePath = path.child("spec", "replicaMode", "source");
  const source = sourceOf(cluster);
  const errors: FieldError[] = [];
  if (replicaMode.enabled === true && source === undefined) {
    // A present source without host is already reported by the schema (host is required there).
    errors.push(required(sourcePath.child("host"), ENABLED_NEEDS_HOST));
  }
  const port = source?.port;
  if (typeof port === "number" && (port < 1 || port > 65535)) {
    errors.push(invalid(sourcePath.child("port"), port, "must be between 1 and 65535"));
  }
  const host = stringField(source, "host");
  if (host !== undefined && host !== "") {
    const name = metadataString(cluster, "name");
    const namespace = metadataString(cluster, "namespace");
    if (!isValidHost(host)) {
      errors.push(
        invalid(
          sourcePath.child("host"),
          host,
          "must be a DNS name or an IP address (without a port: the port goes in spec.replicaMode.source.port)",
        ),
      );
    } else if (isOwnService(host, name, namespace)) {
      errors.push(
        invalid(
          sourcePath.child("host"),
          host,
          `is a Service of this RedisCluster (${name} in namespace ${namespace}): a cluster cannot replicate from itself`,
        ),
      );
    }
  }
  return errors;
}
