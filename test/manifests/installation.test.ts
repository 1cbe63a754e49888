/**
 * The default installation (`kubectl apply -k manifests/`) holds together: names, ports, certificates and
 * selectors that refer to each other agree, and the webhook and controller run the way DESIGN §5 says.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import {
  MANIFESTS,
  allOf,
  get,
  kustomize,
  kustomizeOverlay,
  kustomizeWithComponents,
  list,
  oneOf,
  parseObjects,
} from "./helpers.ts";

const NAMESPACE = "redis-dr-system";
const objects = kustomize(MANIFESTS);
const podSpec = (name: string) => get(oneOf(objects, "Deployment", name), "spec", "template", "spec");
const container = (name: string) => list(podSpec(name), "containers")[0];
const webhookConfigurations = [
  oneOf(objects, "MutatingWebhookConfiguration", "redis-dr-mutating"),
  oneOf(objects, "ValidatingWebhookConfiguration", "redis-dr-validating"),
];
const webhooks = webhookConfigurations.flatMap((configuration) => list(configuration, "webhooks"));

describe("the default installation", () => {
  it("renders exactly the objects DESIGN §5 lists", () => {
    assert.deepEqual(objects.map((o) => `${o.kind} ${o.metadata.name}`).sort(), [
      "Certificate redis-dr-ca",
      "Certificate redis-dr-webhook",
      "ClusterRole redis-dr-controller",
      "ClusterRole redis-dr-webhook",
      "ClusterRoleBinding redis-dr-controller",
      "ClusterRoleBinding redis-dr-webhook",
      "CustomResourceDefinition redisclusters.redis.io",
      "Deployment redis-dr-controller",
      "Deployment redis-dr-webhook",
      "Issuer redis-dr-ca",
      "Issuer redis-dr-selfsigned",
      "MutatingWebhookConfiguration redis-dr-mutating",
      "Namespace redis-dr-system",
      "PodDisruptionBudget redis-dr-webhook",
      "Role redis-dr-controller-leader-election",
      "RoleBinding redis-dr-controller-leader-election",
      "Service redis-dr-controller-metrics",
      "Service redis-dr-webhook",
      "Service redis-dr-webhook-metrics",
      "ServiceAccount redis-dr-controller",
      "ServiceAccount redis-dr-webhook",
      "ValidatingWebhookConfiguration redis-dr-validating",
    ]);
  });

  it("puts every namespaced object in redis-dr-system and labels everything part-of redis-dr", () => {
    const clusterScoped = new Set([
      "Namespace",
      "CustomResourceDefinition",
      "ClusterRole",
      "ClusterRoleBinding",
      "MutatingWebhookConfiguration",
      "ValidatingWebhookConfiguration",
    ]);
    for (const object of objects) {
      const where = `${object.kind} ${object.metadata.name}`;
      assert.equal(object.metadata.namespace, clusterScoped.has(object.kind) ? undefined : NAMESPACE, where);
      assert.equal(object.metadata.labels?.["app.kubernetes.io/part-of"], "redis-dr", where);
    }
  });

  it("installs the generated CRD unchanged", () => {
    const [generated] = parseObjects(
      readFileSync(path.join(MANIFESTS, "crd/redis.io_redisclusters.yaml"), "utf8"),
      "crd",
    );
    const rendered = oneOf(objects, "CustomResourceDefinition", "redisclusters.redis.io");
    assert.deepEqual(rendered, generated);
  });

  it("configures both webhooks as DESIGN §5 says", () => {
    assert.equal(webhooks.length, 2);
    for (const webhook of webhooks) {
      assert.equal(get(webhook, "failurePolicy"), "Fail");
      assert.equal(get(webhook, "sideEffects"), "None");
      assert.deepEqual(get(webhook, "admissionReviewVersions"), ["v1"]);
      const timeout = get(webhook, "timeoutSeconds");
      assert.ok(typeof timeout === "number" && timeout >= 1 && timeout <= 10, `timeoutSeconds ${timeout}`);
      assert.deepEqual(get(webhook, "namespaceSelector", "matchExpressions"), [
        { key: "kubernetes.io/metadata.name", operator: "NotIn", values: [NAMESPACE] },
      ]);
      assert.deepEqual(get(webhook, "rules"), [
        {
          apiGroups: ["redis.io"],
          apiVersions: ["v1"],
          operations: ["CREATE", "UPDATE"],
          resources: ["redisclusters"],
          scope: "Namespaced",
        },
      ]);
    }
    assert.deepEqual(webhooks.map((w) => get(w, "clientConfig", "service", "path")).sort(), [
      "/mutate-redis-io-v1-rediscluster",
      "/validate-redis-io-v1-rediscluster",
    ]);
  });

  it("points the webhooks at the webhook Service, which reaches the webhook's HTTPS port", () => {
    const service = oneOf(objects, "Service", "redis-dr-webhook");
    for (const webhook of webhooks) {
      assert.deepEqual(
        [
          get(webhook, "clientConfig", "service", "namespace"),
          get(webhook, "clientConfig", "service", "name"),
          get(webhook, "clientConfig", "service", "port"),
        ],
        [service.metadata.namespace, service.metadata.name, 443],
      );
    }
    assert.deepEqual(get(service, "spec", "ports"), [
      { name: "https", port: 443, targetPort: "webhook", protocol: "TCP" },
    ]);
    assert.deepEqual(get(service, "spec", "selector"), { "app.kubernetes.io/name": "redis-dr-webhook" });
    assert.deepEqual(get(container("redis-dr-webhook"), "ports"), [
      { name: "webhook", containerPort: 9443, protocol: "TCP" },
      { name: "metrics", containerPort: 8081, protocol: "TCP" },
    ]);
    assert.deepEqual(
      get(oneOf(objects, "Deployment", "redis-dr-webhook"), "spec", "template", "metadata", "labels"),
      { "app.kubernetes.io/name": "redis-dr-webhook", "app.kubernetes.io/component": "webhook" },
    );
  });

  it("has cert-manager issue the certificate the webhooks trust and the webhook serves", () => {
    const certificate = oneOf(objects, "Certificate", "redis-dr-webhook");
    const service = oneOf(objects, "Service", "redis-dr-webhook");
    const host = `${service.metadata.name}.${service.metadata.namespace}.svc`;
    assert.deepEqual(get(certificate, "spec", "dnsNames"), [host, `${host}.cluster.local`]);
    for (const configuration of webhookConfigurations) {
      assert.equal(
        configuration.metadata.annotations?.["cert-manager.io/inject-ca-from"],
        `${certificate.metadata.namespace}/${certificate.metadata.name}`,
      );
    }
    // The serving certificate comes from the CA Issuer, whose CA comes from the self-signed Issuer.
    assert.deepEqual(get(certificate, "spec", "issuerRef"), { kind: "Issuer", name: "redis-dr-ca" });
    const caIssuer = oneOf(objects, "Issuer", "redis-dr-ca");
    const ca = oneOf(objects, "Certificate", "redis-dr-ca");
    assert.equal(get(caIssuer, "spec", "ca", "secretName"), get(ca, "spec", "secretName"));
    assert.equal(get(ca, "spec", "isCA"), true);
    assert.deepEqual(get(ca, "spec", "issuerRef"), { kind: "Issuer", name: "redis-dr-selfsigned" });
    assert.deepEqual(get(oneOf(objects, "Issuer", "redis-dr-selfsigned"), "spec"), { selfSigned: {} });
    // The webhook reads the Certificate's Secret from the directory its --cert-dir names.
    const secretName = get(certificate, "spec", "secretName");
    assert.equal(secretName, "redis-dr-webhook-tls");
    const volume = list(podSpec("redis-dr-webhook"), "volumes").find(
      (v) => get(v, "name") === "serving-cert",
    );
    assert.equal(get(volume, "secret", "secretName"), secretName);
    const args = list(container("redis-dr-webhook"), "args");
    const certDir = args[args.indexOf("--cert-dir") + 1];
    const mount = list(container("redis-dr-webhook"), "volumeMounts").find(
      (m) => get(m, "name") === "serving-cert",
    );
    assert.equal(get(mount, "mountPath"), certDir);
    assert.equal(get(mount, "readOnly"), true);
  });

  it("runs the webhook highly available: 2 replicas, a PDB, anti-affinity, probes", () => {
    const deployment = oneOf(objects, "Deployment", "redis-dr-webhook");
    assert.equal(get(deployment, "spec", "replicas"), 2);
    const pdb = oneOf(objects, "PodDisruptionBudget", "redis-dr-webhook");
    assert.equal(get(pdb, "spec", "minAvailable"), 1);
    assert.deepEqual(get(pdb, "spec", "selector"), get(deployment, "spec", "selector"));
    const antiAffinity = list(
      podSpec("redis-dr-webhook"),
      "affinity",
      "podAntiAffinity",
      "preferredDuringSchedulingIgnoredDuringExecution",
    );
    assert.deepEqual(get(antiAffinity[0], "podAffinityTerm", "labelSelector", "matchLabels"), {
      "app.kubernetes.io/name": "redis-dr-webhook",
    });
    assert.equal(get(antiAffinity[0], "podAffinityTerm", "topologyKey"), "kubernetes.io/hostname");
    const webhook = container("redis-dr-webhook");
    assert.deepEqual(get(webhook, "livenessProbe", "httpGet"), { path: "/healthz", port: "metrics" });
    assert.deepEqual(get(webhook, "startupProbe", "httpGet"), { path: "/healthz", port: "metrics" });
    assert.deepEqual(get(webhook, "readinessProbe", "httpGet"), { path: "/readyz", port: "metrics" });
    assert.deepEqual(get(webhook, "args"), [
      "--max-semi-space-size=8",
      "--heap-growing-percent=20",
      "webhook/main.js",
      "--cert-dir",
      "/tmp/k8s-webhook-server/serving-certs",
      "--port",
      "9443",
      "--health-port",
      "8081",
    ]);
    assert.deepEqual(
      list(webhook, "env").map((e) => [
        get(e, "name"),
        get(e, "value") ?? get(e, "valueFrom", "fieldRef", "fieldPath"),
      ]),
      [
        ["MALLOC_ARENA_MAX", "2"],
        ["POD_NAMESPACE", "metadata.namespace"],
      ],
    );
  });

  it("runs the controller with leader election on its own Lease and probes on its metrics port", () => {
    const deployment = oneOf(objects, "Deployment", "redis-dr-controller");
    const replicas = get(deployment, "spec", "replicas");
    assert.equal(replicas, 2);
    const controller = container("redis-dr-controller");
    assert.deepEqual(get(controller, "args"), [
      "--max-semi-space-size=4",
      "--heap-growing-percent=20",
      "controller/main.js",
      "--metrics-port",
      "8080",
      "--leader-elect",
    ]);
    assert.deepEqual(get(controller, "ports"), [{ name: "metrics", containerPort: 8080, protocol: "TCP" }]);
    assert.deepEqual(get(controller, "livenessProbe", "httpGet"), { path: "/healthz", port: "metrics" });
    assert.deepEqual(get(controller, "readinessProbe", "httpGet"), { path: "/healthz", port: "metrics" });
    const env = list(controller, "env").map((e) => [
      get(e, "name"),
      get(e, "value") ?? get(e, "valueFrom", "fieldRef", "fieldPath"),
    ]);
    assert.deepEqual(env, [
      ["MALLOC_ARENA_MAX", "2"],
      ["POD_NAMESPACE", "metadata.namespace"],
      ["POD_NAME", "metadata.name"],
    ]);
  });

  it("runs both programs from the same image, non-root, with a read-only root filesystem and requests", () => {
    for (const name of ["redis-dr-webhook", "redis-dr-controller"]) {
      const pod = podSpec(name);
      const main = container(name);
      assert.equal(get(main, "image"), "redis-dr:0.1.0", name);
      assert.equal(get(pod, "securityContext", "runAsNonRoot"), true, name);
      assert.equal(get(pod, "securityContext", "runAsUser"), 65532, name);
      assert.deepEqual(get(pod, "securityContext", "seccompProfile"), { type: "RuntimeDefault" }, name);
      assert.deepEqual(
        get(main, "securityContext"),
        { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
        name,
      );
      assert.ok(get(main, "resources", "requests", "cpu"), `${name} cpu request`);
      assert.ok(get(main, "resources", "requests", "memory"), `${name} memory request`);
      assert.ok(get(main, "resources", "limits", "memory"), `${name} memory limit`);
    }
  });

  it("exposes both programs' /metrics through metrics Services that select their pods", () => {
    for (const [service, program, port] of [
      ["redis-dr-webhook-metrics", "redis-dr-webhook", 8081],
      ["redis-dr-controller-metrics", "redis-dr-controller", 8080],
    ] as const) {
      const metrics = oneOf(objects, "Service", service);
      assert.deepEqual(get(metrics, "spec", "selector"), { "app.kubernetes.io/name": program });
      assert.deepEqual(get(metrics, "spec", "ports"), [
        { name: "metrics", port, targetPort: "metrics", protocol: "TCP" },
      ]);
      assert.equal(metrics.metadata.labels?.["app.kubernetes.io/component"], "metrics");
    }
  });
});

describe("the optional components", () => {
  const full = kustomizeWithComponents([
    "monitoring/service-monitor",
    "monitoring/prometheus-rule",
    "network-policy",
  ]);

  it("add only the ServiceMonitor, the PrometheusRule and the NetworkPolicies", () => {
    const base = new Set(objects.map((o) => `${o.kind} ${o.metadata.name}`));
    assert.deepEqual(
      full
        .map((o) => `${o.kind} ${o.metadata.name}`)
        .filter((name) => !base.has(name))
        .sort(),
      [
        "NetworkPolicy redis-dr-controller",
        "NetworkPolicy redis-dr-default-deny-ingress",
        "NetworkPolicy redis-dr-webhook",
        "PrometheusRule redis-dr",
        "ServiceMonitor redis-dr",
      ],
    );
  });

  it("scrape exactly the two metrics Services, keeping the controller's own namespace and pod labels", () => {
    const monitor = oneOf(full, "ServiceMonitor", "redis-dr");
    const selector = get(monitor, "spec", "selector", "matchLabels") as Record<string, string>;
    const selected = allOf(full, "Service")
      .filter((s) => Object.entries(selector).every(([key, value]) => s.metadata.labels?.[key] === value))
      .map((s) => s.metadata.name)
      .sort();
    assert.deepEqual(selected, ["redis-dr-controller-metrics", "redis-dr-webhook-metrics"]);
    assert.deepEqual(get(monitor, "spec", "endpoints"), [
      { port: "metrics", path: "/metrics", interval: "30s", honorLabels: true },
    ]);
  });

  it("open the webhook port to the API server's addresses only (a placeholder that matches nothing until set) and the metrics ports to monitoring only", () => {
    const webhookPolicy = oneOf(full, "NetworkPolicy", "redis-dr-webhook");
    const ingress = list(webhookPolicy, "spec", "ingress");
    assert.equal(ingress.length, 2);
    assert.deepEqual(get(ingress[0], "ports"), [{ port: "webhook", protocol: "TCP" }]);
    assert.deepEqual(get(ingress[0], "from"), [{ ipBlock: { cidr: "192.0.2.0/24" } }]);
    assert.deepEqual(get(ingress[1], "ports"), [{ port: "metrics", protocol: "TCP" }]);
    assert.deepEqual(get(oneOf(full, "NetworkPolicy", "redis-dr-default-deny-ingress"), "spec"), {
      podSelector: {},
      policyTypes: ["Ingress"],
    });
  });
});

describe("an installation in another namespace", () => {
  const components = ["monitoring/service-monitor", "monitoring/prometheus-rule", "network-policy"];
  // What docs/install.md tells a user to write: their `namespace:` and the transformers that follow it.
  const moved = kustomizeOverlay({
    components,
    namespace: "other-ns",
    transformers: ["namespace-references"],
  });
  const inMoved = (kind: string, name: string) => oneOf(moved, kind, name);
  const defaults = kustomizeWithComponents(components);

  it("is the default installation with every mention of redis-dr-system, whole or inside a string, moved", () => {
    assert.deepEqual(moved, JSON.parse(JSON.stringify(defaults).replaceAll(NAMESPACE, "other-ns")));
  });

  it("is the default installation when the overlay keeps redis-dr-system (docs/install.md's template)", () => {
    const kept = kustomizeOverlay({
      components,
      namespace: NAMESPACE,
      transformers: ["namespace-references"],
    });
    assert.deepEqual(kept, defaults);
  });

  it("issues the serving certificate for the webhook Service's DNS names in the new namespace", () => {
    assert.deepEqual(
      allOf(moved, "Namespace").map((namespace) => namespace.metadata.name),
      ["other-ns"],
    );
    assert.equal(inMoved("Service", "redis-dr-webhook").metadata.namespace, "other-ns");
    assert.deepEqual(get(inMoved("Certificate", "redis-dr-webhook"), "spec", "dnsNames"), [
      "redis-dr-webhook.other-ns.svc",
      "redis-dr-webhook.other-ns.svc.cluster.local",
    ]);
  });

  it("has cert-manager inject the CA from the Certificate in the new namespace, and excludes that namespace", () => {
    for (const configuration of [
      inMoved("MutatingWebhookConfiguration", "redis-dr-mutating"),
      inMoved("ValidatingWebhookConfiguration", "redis-dr-validating"),
    ]) {
      assert.equal(
        configuration.metadata.annotations?.["cert-manager.io/inject-ca-from"],
        "other-ns/redis-dr-webhook",
      );
      const [webhook] = list(configuration, "webhooks");
      assert.equal(get(webhook, "clientConfig", "service", "namespace"), "other-ns");
      assert.deepEqual(get(webhook, "namespaceSelector", "matchExpressions"), [
        { key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["other-ns"] },
      ]);
    }
  });

  it("binds the roles to the ServiceAccounts in the new namespace", () => {
    for (const binding of [...allOf(moved, "ClusterRoleBinding"), ...allOf(moved, "RoleBinding")]) {
      assert.deepEqual(
        list(binding, "subjects").map((subject) => get(subject, "namespace")),
        ["other-ns"],
        binding.metadata.name,
      );
    }
  });

  it("needs the transformers: `namespace:` alone leaves the namespace inside strings behind", () => {
    const namespaceOnly = kustomizeOverlay({ namespace: "other-ns" });
    assert.deepEqual(get(oneOf(namespaceOnly, "Certificate", "redis-dr-webhook"), "spec", "dnsNames"), [
      `redis-dr-webhook.${NAMESPACE}.svc`,
      `redis-dr-webhook.${NAMESPACE}.svc.cluster.local`,
    ]);
  });
});
