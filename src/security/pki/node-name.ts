/**
 * How a node is named in its certificate: the node id as the subject's common name and as a URI
 * `hive://node/<id>` in the subject alternative names. The URI is what makes a certificate a
 * node's (an orchestrator's server certificate has none), the common name is for people.
 */

/** A node id: letters, digits, '_', '.', '-', at most 63 characters (as in a runner's config). */
export const NODE_ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** The URI naming node `nodeId` in its certificate. */
export function nodeUri(nodeId: string): string {
  return `hive://node/${nodeId}`;
}

/** The node id of a `hive://node/<id>` URI, or undefined for any other. */
export function nodeIdOfUri(uri: string): string | undefined {
  const prefix = "hive://node/";
  if (!uri.startsWith(prefix)) return undefined;
  const id = uri.slice(prefix.length);
  return NODE_ID_PATTERN.test(id) ? id : undefined;
}
