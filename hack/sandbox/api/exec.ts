/**
 * `kubectl exec` over the Kubernetes WebSocket remote-command protocol (v5/v4.channel.k8s.io), which kubectl
 * 1.30+ tries first: binary frames whose first byte is the stream (0 stdin, 1 stdout, 2 stderr, 3 error —
 * a Status JSON with the exit code —, 4 resize, 255 close), masked from the client, plain from the server.
 * There is no pseudo-terminal: with `-t` the command's stderr goes to stdout, and programs see no tty.
 */
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const CLOSE = 255;

export type ExecSpawner = (
  namespace: string,
  name: string,
  container: string | undefined,
  argv: string[],
) => ChildProcess | undefined;

function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  let header: Buffer;
  if (length < 126) {
    header = Buffer.from([0x80 | opcode, length]);
  } else if (length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, payload]);
}

/** Parses complete frames from `buffer`; returns them and the unconsumed rest. */
function parseFrames(buffer: Buffer): { frames: { opcode: number; payload: Buffer }[]; rest: Buffer } {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let offset = 0;
  for (;;) {
    if (buffer.length - offset < 2) break;
    const first = buffer[offset] ?? 0;
    const second = buffer[offset + 1] ?? 0;
    let length = second & 0x7f;
    let cursor = offset + 2;
    if (length === 126) {
      if (buffer.length - cursor < 2) break;
      length = buffer.readUInt16BE(cursor);
      cursor += 2;
    } else if (length === 127) {
      if (buffer.length - cursor < 8) break;
      length = Number(buffer.readBigUInt64BE(cursor));
      cursor += 8;
    }
    const masked = (second & 0x80) !== 0;
    const mask = masked ? buffer.subarray(cursor, cursor + 4) : undefined;
    if (masked) cursor += 4;
    if (buffer.length - cursor < length) break;
    const payload = Buffer.from(buffer.subarray(cursor, cursor + length));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
    frames.push({ opcode: first & 0x0f, payload });
    offset = cursor + length;
  }
  return { frames, rest: buffer.subarray(offset) };
}

/** Answers a WebSocket upgrade for `.../pods/NAME/exec`; false when the request is not one. */
export function handleExecUpgrade(req: IncomingMessage, socket: Duplex, spawnExec: ExecSpawner): boolean {
  const url = new URL(req.url ?? "/", "https://sandbox");
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
  if (!m) return false;
  const target = {
    namespace: decodeURIComponent(m[1] ?? ""),
    name: decodeURIComponent(m[2] ?? ""),
    container: url.searchParams.get("container") ?? undefined,
  };
  serveExec(req, socket, target, spawnExec);
  return true;
}

/**
 * Runs the exec a WebSocket upgrade asks for (`command`, `tty` in its query) in the target pod's container
 * and streams it: what a kubelet's `/exec/<ns>/<pod>/<container>` does, and the sandbox API server's pods/exec.
 */
export function serveExec(
  req: IncomingMessage,
  socket: Duplex,
  target: { namespace: string; name: string; container: string | undefined },
  spawnExec: ExecSpawner,
): void {
  const url = new URL(req.url ?? "/", "https://sandbox");
  const offered = String(req.headers["sec-websocket-protocol"] ?? "")
    .split(",")
    .map((p) => p.trim());
  const protocol = PROTOCOLS.find((p) => offered.includes(p));
  const key = req.headers["sec-websocket-key"];
  if (!protocol || typeof key !== "string") {
    socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    return;
  }
  const q = url.searchParams;
  const argv = q.getAll("command");
  const tty = q.get("tty") === "true" || q.get("tty") === "1";
  const { namespace, name } = target;
  const child = argv.length > 0 ? spawnExec(namespace, name, target.container, argv) : undefined;
  const accept = createHash("sha1").update(`${key}${GUID}`).digest("base64");
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
  );
  const send = (channel: number, data: Buffer | string) => {
    if (!socket.writable) return;
    socket.write(frame(0x2, Buffer.concat([Buffer.from([channel]), Buffer.from(data)])));
  };
  const finish = (status: object) => {
    send(ERROR, JSON.stringify(status));
    if (socket.writable) socket.end(frame(0x8, Buffer.from([0x03, 0xe8])));
  };
  if (!child) {
    finish({
      metadata: {},
      status: "Failure",
      message:
        argv.length === 0
          ? "you must specify at least 1 command"
          : `container not found or not running in pod "${name}"`,
      reason: "BadRequest",
      code: 400,
    });
    return;
  }
  child.stdout?.on("data", (chunk: Buffer) => send(STDOUT, chunk));
  child.stderr?.on("data", (chunk: Buffer) => send(tty ? STDOUT : STDERR, chunk));
  child.stdin?.on("error", () => undefined);
  child.once("close", (code, signal) => {
    const exitCode = code ?? 128 + (signal === "SIGKILL" ? 9 : 15);
    finish(
      exitCode === 0
        ? { metadata: {}, status: "Success" }
        : {
            metadata: {},
            status: "Failure",
            message: `command terminated with non-zero exit code: exit status ${exitCode}`,
            reason: "NonZeroExitCode",
            details: { causes: [{ reason: "ExitCode", message: String(exitCode) }] },
          },
    );
  });
  let pending: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    const { frames, rest } = parseFrames(Buffer.concat([pending, chunk]));
    pending = rest;
    for (const { opcode, payload } of frames) {
      if (opcode === 0x8) {
        child.stdin?.end();
        child.kill("SIGKILL");
      } else if (opcode === 0x9) {
        socket.write(frame(0xa, payload));
      } else if (opcode === 0x2 || opcode === 0x1) {
        const channel = payload[0];
        if (channel === STDIN) child.stdin?.write(payload.subarray(1));
        else if (channel === CLOSE && payload[1] === STDIN) child.stdin?.end();
      }
    }
  });
  socket.on("error", () => child.kill("SIGKILL"));
  socket.on("close", () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
}
