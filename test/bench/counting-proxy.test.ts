import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { bytesBetween, CountingProxy } from "../../hack/bench/lib/counting-proxy.ts";

/** An upstream that answers every chunk with twice as many bytes. */
const upstream = net.createServer((socket) =>
  socket.on("data", (chunk: Buffer) => socket.write(Buffer.concat([chunk, chunk]))),
);
let proxy: CountingProxy;

before(async () => {
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const { port } = upstream.address() as net.AddressInfo;
  proxy = new CountingProxy("127.0.0.1", 0, { host: "127.0.0.1", port });
  await proxy.start();
});
after(async () => {
  await proxy.stop();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

async function exchange(port: number, bytes: number): Promise<void> {
  const socket = net.connect(port, "127.0.0.1");
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received === 2 * bytes) resolve();
    });
    socket.write(Buffer.alloc(bytes, 1));
  });
  socket.destroy();
}

describe("CountingProxy", () => {
  it("counts the bytes each way and the connections of each client address", async () => {
    const port = proxy.listeningPort();
    const before = proxy.snapshot();
    await exchange(port, 1000);
    await exchange(port, 500);
    const after = proxy.snapshot();
    assert.deepEqual(
      bytesBetween(before, after, (address) => address === "127.0.0.1"),
      { up: 1500, down: 3000, connections: 2 },
    );
    assert.deepEqual(
      bytesBetween(before, after, (address) => address !== "127.0.0.1"),
      { up: 0, down: 0, connections: 0 },
    );
  });
});
