// The runner protocol's version, and the rule for which runners the orchestrator accepts.
// The rule is documented at the top of proto/hive/runner/v1/runner.proto; the two must agree.

/**
 * Major version of the runner protocol spoken by this build (sent in Register and RegisterAck).
 * Bump it only for a change an older peer would misread; additive changes keep it.
 */
export const PROTOCOL_VERSION = 1;

/** True if a runner announcing `runnerVersion` in its Register may join this orchestrator. */
export function isCompatibleProtocol(runnerVersion: number): boolean {
  // protocol_version is the major version itself, so only an exact match is compatible.
  return runnerVersion === PROTOCOL_VERSION;
}

/**
 * The largest runner-protocol message either end takes (a registration listing many deployments,
 * a log chunk). Both ends set it, so a message one may send the other can receive.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
