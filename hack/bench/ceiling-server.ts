/**
 * The ceiling for the admission benchmark: a bare Node HTTPS server that parses the AdmissionReview and answers
 * a fixed "allowed" review with the request's uid. Nothing a real webhook could do faster on this machine with
 * Node: no routing, no validation, no logging, no metrics.
 *   node --import tsx hack/bench/ceiling-server.ts --cert-dir DIR --port PORT
 * (the admission benchmark transpiles it to JavaScript and runs it with plain node, as the webhook runs)
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { "cert-dir": { type: "string" }, port: { type: "string" } } });
const certDir = values["cert-dir"] ?? ".";

const server = createServer(
  {
    cert: readFileSync(join(certDir, "tls.crt")),
    key: readFileSync(join(certDir, "tls.key")),
    minVersion: "TLSv1.2",
  },
  (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const review = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { request?: { uid?: string } };
      const body = JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: { uid: review.request?.uid ?? "", allowed: true },
      });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  },
);
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port ?? 0), "127.0.0.1", () => console.log("ready"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
