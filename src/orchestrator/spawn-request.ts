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
 * list.
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
  };
}

/**
 * The wait before restart number `restarts` (0-based): exponential from the policy's initial,
 * capped at its maximum, with "equal jitter" (half fixed, half random), so that the services of a
 * lost node do not all come back in the same instant, yet never faster than half the backoff.
 */
export function restartDelayMs(
  policy: ServiceManifest["restart"],
  restarts: number,
  random = Math.random,
): number {
  const cap = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.max(0, restarts));
  return Math.floor(cap / 2 + (cap / 2) * random());
}

/** A run this long counts as stable: the next failure starts the backoff and the count afresh. */
export function stableAfterMs(policy: ServiceManifest["restart"]): number {
  return Math.max(10_000, policy.maxBackoffMs);
}

/** Whether an exit calls for a restart under the policy (before counting restarts). */
export function wantsRestart(policy: ServiceManifest["restart"], exitCode: number | null): boolean {
  switch (policy.policy) {
    case "always":
      return true;
    case "on-failure":
      return exitCode !== 0;
    case "never":
      return false;
  }
}
