import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  DatasetState,
  RunnerErrorCode,
  LogStream,
  OrchestratorMessageSchema,
  PROTOCOL_VERSION,
  Pool,
  ProcessState,
  RunnerMessageSchema,
  SocketDirection,
  SocketPattern,
  isCompatibleProtocol,
} from "./index.ts";
import type {
  OrchestratorMessage,
  OrchestratorMessageCase,
  RunnerMessage,
  RunnerMessageCase,
} from "./index.ts";

const repoRoot = resolve(import.meta.dirname, "..", "..");

// node:test's describe() and test() return promises that the runner itself awaits and reports;
// `void` marks them as deliberately not awaited here (no-floating-promises).

type RunnerInit = MessageInitShape<typeof RunnerMessageSchema>;
type OrchestratorInit = MessageInitShape<typeof OrchestratorMessageSchema>;

/** Encodes to the wire and decodes back, as the other end of the stream would see it. */
function runnerRoundTrip(init: RunnerInit): RunnerMessage {
  const bytes = toBinary(RunnerMessageSchema, create(RunnerMessageSchema, init));
  assert.ok(bytes.length > 0, "encoded message is empty");
  return fromBinary(RunnerMessageSchema, bytes);
}

/** Encodes to the wire and decodes back, as the other end of the stream would see it. */
function orchestratorRoundTrip(init: OrchestratorInit): OrchestratorMessage {
  const bytes = toBinary(OrchestratorMessageSchema, create(OrchestratorMessageSchema, init));
  assert.ok(bytes.length > 0, "encoded message is empty");
  return fromBinary(OrchestratorMessageSchema, bytes);
}

// Every field below holds a non-default value, so a field lost on the wire shows up as a diff.
const runnerCases: Record<RunnerMessageCase, RunnerInit> = {
  register: {
    message: {
      case: "register",
      value: {
        protocolVersion: 1,
        nodeId: "tokyo-live-01",
        pool: Pool.LIVE,
        tags: ["live_node", "low_latency", "region_tokyo"],
        capacity: { cores: 15.5, memoryBytes: 64n * 1024n ** 3n, exclusiveCores: 8 },
        portRange: { first: 40000, last: 40999 },
        hotDatasets: [{ id: "equities_l2", version: "2024-06", sizeBytes: 12_000_000_000n }],
        linkBandwidthBytesPerSec: 1_250_000_000n,
        joinToken: "s3cret",
        runnerVersion: "0.1.0",
        runningDeployments: [
          {
            deploymentId: "dep-momentum-7",
            layout: "demo",
            service: "momentum",
            epoch: 42n,
            resources: { cores: 2, memoryBytes: 1n << 30n, exclusiveCores: 2 },
            status: {
              deploymentId: "dep-momentum-7",
              state: ProcessState.RUNNING,
              pid: 4242,
              restarts: 1,
              startedAtUnixMs: 1_717_171_717_171n,
            },
            addresses: [{ socketName: "fills", address: "tcp://10.0.0.7:40001" }],
            ports: [40001],
            ordersEnabled: true,
          },
        ],
      },
    },
  },
  heartbeat: {
    message: {
      case: "heartbeat",
      value: {
        seq: 17n,
        load: { cpuFraction: 0.625, memoryUsedBytes: 3_000_000_000n },
        processes: [
          {
            deploymentId: "dep-a",
            state: ProcessState.FAILED,
            pid: 99,
            exitCode: 3,
            restarts: 2,
            startedAtUnixMs: 1_700_000_000_000n,
          },
          {
            deploymentId: "dep-b",
            state: ProcessState.KILLED,
            pid: 100,
            signal: "SIGKILL",
            oomKilled: true,
          },
        ],
        hotDatasets: [{ id: "fx_ticks", version: "v3", sizeBytes: 5n }],
      },
    },
  },
  spawnResponse: {
    message: {
      case: "spawnResponse",
      value: {
        requestId: "req-1",
        deploymentId: "dep-feeder-1",
        ok: true,
        pid: 31337,
        addresses: [
          { socketName: "market_data", address: "tcp://10.0.0.5:40010" },
          { socketName: "control", address: "tcp://10.0.0.5:40011" },
        ],
        ports: [40010, 40011],
      },
    },
  },
  stopResponse: {
    message: {
      case: "stopResponse",
      value: {
        requestId: "req-2",
        deploymentId: "dep-feeder-1",
        ok: false,
        error: {
          code: RunnerErrorCode.NOT_FOUND,
          message: "deployment dep-feeder-1 is not on tokyo-live-01",
        },
        finalStatus: { deploymentId: "dep-feeder-1", state: ProcessState.EXITED, exitCode: 0 },
      },
    },
  },
  routeAck: { message: { case: "routeAck", value: { version: 9n } } },
  datasetStatus: {
    message: {
      case: "datasetStatus",
      value: {
        id: "equities_l2",
        version: "2024-06",
        state: DatasetState.LOADING,
        loadedBytes: 6_000_000_000n,
        totalBytes: 12_000_000_000n,
        error: { code: RunnerErrorCode.RESOURCE_EXHAUSTED, message: "tmpfs full" },
      },
    },
  },
  logChunk: {
    message: {
      case: "logChunk",
      value: {
        requestId: "log-1",
        deploymentId: "dep-a",
        stream: LogStream.STDERR,
        data: new Uint8Array([0x68, 0x69, 0x0a, 0xff]),
        eof: true,
      },
    },
  },
};

const orchestratorCases: Record<OrchestratorMessageCase, OrchestratorInit> = {
  heartbeatAck: { message: { case: "heartbeatAck", value: { seq: 2n ** 40n, leaseTtlMs: 3_000 } } },
  registerAck: {
    message: {
      case: "registerAck",
      value: {
        accepted: false,
        protocolVersion: 1,
        reason: "runner speaks protocol 2, orchestrator speaks 1",
        leaseTtlMs: 10_000,
        heartbeatIntervalMs: 2_000,
      },
    },
  },
  spawnRequest: {
    message: {
      case: "spawnRequest",
      value: {
        requestId: "req-3",
        deploymentId: "dep-momentum-8",
        layout: "demo",
        service: "momentum",
        // Above 2^53: must survive as an exact bigint, not a rounded number.
        epoch: 9_007_199_254_740_993n,
        command: "/usr/bin/python3",
        args: ["-m", "momentum", "--fast"],
        env: { LOG_LEVEL: "debug", ACCOUNT: "acct-1" },
        resources: { cores: 1.5, memoryBytes: 2n << 30n, exclusiveCores: 1 },
        sockets: [
          { name: "market_data", pattern: SocketPattern.SUB, direction: SocketDirection.CONSUME },
          { name: "orders", pattern: SocketPattern.DEALER, direction: SocketDirection.CONSUME },
        ],
        datasets: [{ name: "ticks", id: "fx_ticks", version: "v3" }],
        ordersEnabled: true,
      },
    },
  },
  stopRequest: {
    message: {
      case: "stopRequest",
      value: { requestId: "req-4", deploymentId: "dep-momentum-8", gracePeriodMs: 5_000 },
    },
  },
  routeUpdate: {
    message: {
      case: "routeUpdate",
      value: {
        version: 10n,
        routes: [
          {
            deploymentId: "dep-momentum-8",
            socketName: "market_data",
            localEndpoint: "ipc:///run/hive/strategies/dep-momentum-8/market_data",
            remoteAddresses: ["tcp://10.0.0.5:40010", "tcp://10.0.0.6:40010"],
          },
        ],
        removals: [{ deploymentId: "dep-old", socketName: "orders" }],
      },
    },
  },
  datasetLoad: {
    message: {
      case: "datasetLoad",
      value: { id: "fx_ticks", version: "v3", sourcePath: "/data/fx_ticks/v3", sizeBytes: 7n },
    },
  },
  datasetEvict: { message: { case: "datasetEvict", value: { id: "fx_ticks", version: "v2" } } },
  setOrderPath: {
    message: { case: "setOrderPath", value: { deploymentId: "dep-standby", open: true, epoch: 43n } },
  },
  logRequest: {
    message: {
      case: "logRequest",
      value: {
        requestId: "log-2",
        deploymentId: "dep-a",
        stream: LogStream.STDOUT,
        follow: true,
        tailBytes: 4096n,
      },
    },
  },
  logCancel: { message: { case: "logCancel", value: { requestId: "log-2" } } },
};

void describe("round trip through the wire format", () => {
  void test("the tables cover every oneof case of both envelopes", () => {
    const runnerOneof = RunnerMessageSchema.oneofs[0]?.fields.map((f) => f.localName);
    const orchestratorOneof = OrchestratorMessageSchema.oneofs[0]?.fields.map((f) => f.localName);
    assert.deepEqual(Object.keys(runnerCases).sort(), runnerOneof?.sort());
    assert.deepEqual(Object.keys(orchestratorCases).sort(), orchestratorOneof?.sort());
  });

  for (const [name, init] of Object.entries(runnerCases)) {
    void test(`RunnerMessage.${name} survives encode/decode`, () => {
      const decoded = runnerRoundTrip(init);
      assert.equal(decoded.message.case, name);
      assert.deepStrictEqual(decoded, create(RunnerMessageSchema, init));
    });
  }

  for (const [name, init] of Object.entries(orchestratorCases)) {
    void test(`OrchestratorMessage.${name} survives encode/decode`, () => {
      const decoded = orchestratorRoundTrip(init);
      assert.equal(decoded.message.case, name);
      assert.deepStrictEqual(decoded, create(OrchestratorMessageSchema, init));
    });
  }

  void test("spot checks: map env, repeated addresses, 64-bit values as bigint, optional exit code", () => {
    const spawn = orchestratorRoundTrip(orchestratorCases.spawnRequest).message;
    assert.equal(spawn.case, "spawnRequest");
    assert.equal(spawn.value.epoch, 9_007_199_254_740_993n);
    assert.equal(typeof spawn.value.epoch, "bigint");
    assert.deepEqual(spawn.value.env, { LOG_LEVEL: "debug", ACCOUNT: "acct-1" });
    assert.deepEqual(spawn.value.args, ["-m", "momentum", "--fast"]);
    assert.equal(spawn.value.sockets[1]?.pattern, SocketPattern.DEALER);
    assert.equal(spawn.value.resources?.memoryBytes, 2n << 30n);

    const response = runnerRoundTrip(runnerCases.spawnResponse).message;
    assert.equal(response.case, "spawnResponse");
    assert.deepEqual(
      response.value.addresses.map((a) => [a.socketName, a.address]),
      [
        ["market_data", "tcp://10.0.0.5:40010"],
        ["control", "tcp://10.0.0.5:40011"],
      ],
    );

    const heartbeat = runnerRoundTrip(runnerCases.heartbeat).message;
    assert.equal(heartbeat.case, "heartbeat");
    // exit_code is `optional`: set to 3 on the first process, absent (not 0) on the second.
    assert.equal(heartbeat.value.processes[0]?.exitCode, 3);
    assert.equal(heartbeat.value.processes[1]?.exitCode, undefined);
    assert.equal(heartbeat.value.processes[1]?.oomKilled, true);

    const log = runnerRoundTrip(runnerCases.logChunk).message;
    assert.equal(log.case, "logChunk");
    assert.deepEqual([...log.value.data], [0x68, 0x69, 0x0a, 0xff]);
  });

  void test("an envelope with no case set decodes as an empty envelope (unknown-case tolerance)", () => {
    const decoded = fromBinary(RunnerMessageSchema, new Uint8Array(0));
    assert.equal(decoded.message.case, undefined);
  });
});

void describe("generated code matches the .proto", () => {
  const outDir = mkdtempSync(join(tmpdir(), "hive-gen-proto-"));
  after(() => rmSync(outDir, { recursive: true, force: true }));

  function listFiles(dir: string, base = dir): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? listFiles(join(dir, entry.name), base) : [relative(base, join(dir, entry.name))],
    );
  }

  void test("regenerating into a fresh directory gives byte-identical files to src/protocol/gen/", () => {
    execFileSync(process.execPath, [join(repoRoot, "scripts", "gen-proto.mjs"), "--out", outDir], {
      cwd: repoRoot,
      stdio: "pipe",
    });
    const committedDir = join(repoRoot, "src", "protocol", "gen");
    const generated = listFiles(outDir).sort();
    assert.ok(generated.length > 0, "the generator wrote nothing");
    assert.deepEqual(generated, listFiles(committedDir).sort(), "generated file list differs");
    for (const file of generated) {
      const fresh = readFileSync(join(outDir, file));
      const committed = readFileSync(join(committedDir, file));
      assert.ok(
        fresh.equals(committed),
        `src/protocol/gen/${file} is stale: run \`node scripts/gen-proto.mjs\` and commit the result`,
      );
    }
  });
});

void describe("protocol version", () => {
  void test("isCompatibleProtocol accepts this version and refuses others", () => {
    assert.equal(PROTOCOL_VERSION, 1);
    assert.equal(isCompatibleProtocol(1), true);
    assert.equal(isCompatibleProtocol(0), false);
    assert.equal(isCompatibleProtocol(2), false);
  });

  void test("the version stated in runner.proto's header is PROTOCOL_VERSION", () => {
    const proto = readFileSync(join(repoRoot, "proto", "hive", "runner", "v1", "runner.proto"), "utf8");
    assert.match(proto, new RegExp(`^//\\s+protocol_version = ${PROTOCOL_VERSION}\\s`, "m"));
  });
});
