import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { once } from "node:events";
import { parseListeningPorts, readListeningPorts } from "./listening-ports.ts";

describe("parseListeningPorts", () => {
  test("keeps the local ports of LISTEN (0A) sockets only, IPv4 and IPv6 alike", () => {
    const tcp = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 504 1",
      "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1",
      "   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 778 1",
      "   3: 0100007F:A000 0100007F:1F90 06 00000000:00000000 00:00000000 00000000     0        0 0 3",
      "",
    ].join("\n");
    assert.deepEqual(parseListeningPorts(tcp), [0x07e8, 0x1f90]);
    const tcp6 =
      "  sl  local_address                         remote_address                        st\n" +
      "   0: 00000000000000000000000000000000:4E21 00000000000000000000000000000000:0000 0A 0:0 0\n";
    assert.deepEqual(parseListeningPorts(tcp6), [0x4e21]);
  });

  test("ignores headers, blank and malformed lines", () => {
    assert.deepEqual(parseListeningPorts("garbage\n  0: nothere 0 0A\n\n"), []);
  });
});

describe("readListeningPorts (this machine)", () => {
  test("sees a server listening on loopback, and no longer once it is closed", async () => {
    const server: Server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const address = server.address();
    assert.ok(address !== null && typeof address === "object");
    try {
      assert.ok((await readListeningPorts()).has(address.port));
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    assert.ok(!(await readListeningPorts()).has(address.port));
  });

  test("a missing file counts as no listeners", async () => {
    assert.equal((await readListeningPorts(["/proc/net/definitely-not-here"])).size, 0);
  });
});
