import type { MessageInitShape } from "@bufbuild/protobuf";
import type { DatasetSpec, ServiceManifest } from "../domain/index.ts";
import { SocketDirection, type SpawnRequestSchema } from "../protocol/index.ts";
import { toProtoPattern } from "../protocol/domain-convert.ts";

/** Who a spawn is for. */
export interface SpawnTarget {
  readonly deploymentId: string;
  readonly layout: string;
  readonly role: "active" | "standby";
  readonly epoch: bigint;
}

/**
 * The SpawnRequest for one instance of a service (pure). Every instance starts with its order
 * path closed: a standby receives market data (warm) but cannot trade until it is promoted, and
 * an active trades only once the orchestrator has fenced the gateway to it and then opened its
 * path with the fenced epoch (order-gate.ts). Its runner rejects orders for accounts it does not
 * list, and orders above the service's `limits` (its rate limit at the source).
 */
export function spawnRequestFor(
  manifest: ServiceManifest,
  target: SpawnTarget,
  catalogue: readonly DatasetSpec[],
): MessageInitShape<typeof SpawnRequestSchema> {
  return {
    deploymentId: target.deploymentId,
    layout: target.layout,
    service: manifest.name,
    epoch: target.epoch,
    command: manifest.command,
    args: [...manifest.args],
    env: { ...manifest.env },
    resources: {
      cores: manifest.resources.cores,
      memoryBytes: BigInt(manifest.resources.memoryBytes),
      exclusiveCores: manifest.resources.exclusiveCores,
    },
    sockets: [
      ...manifest.sockets.offers.map((s) => ({
        name: s.name,
        pattern: toProtoPattern(s.pattern),
        direction: SocketDirection.OFFER,
      })),
      ...manifest.sockets.consumes.map((s) => ({
        name: s.name,
        pattern: toProtoPattern(s.pattern),
        direction: SocketDirection.CONSUME,
      })),
    ],
    datasets: manifest.datasets.map((d) => {
      const spec = catalogue.find(
        (c) => c.id === d.id && (d.version === undefined || c.version === d.version),
      );
      return {
        name: d.name,
        id: d.id,
        version: d.version ?? spec?.version ?? "1",
        sourcePath: spec?.source ?? "",
        sizeBytes: BigInt(spec?.size ?? 0),
      };
    }),
    ordersEnabled: false,
    accounts: [...manifest.accounts],
    portNames: [...manifest.ports],
    ...(manifest.limits === undefined
      ? {}
      : {
          orderLimits: {
            ordersPerSecond: manifest.limits.ordersPerSecond,
            orderBurst: manifest.limits.orderBurst,
          },
        }),
  };
}
