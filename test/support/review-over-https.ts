/** One AdmissionReview POSTed to a running webhook over real HTTPS (its certificate is for "localhost"). */
import { request } from "node:https";
import { VALIDATE_PATH } from "../../webhook/server/app.ts";

/** The answer's body as text; `ca` is the PEM the webhook's serving certificate chains to. */
export function postReview(port: number, ca: string, body: unknown, path = VALIDATE_PATH): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        ca,
        servername: "localhost",
        method: "POST",
        path,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve(text));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}
