/**
 * The API answers only to names it knows (DNS rebinding): a web page the operator opens can make
 * the browser resolve the page's own name to 127.0.0.1 and send requests to this port; such a
 * request still carries the page's name in its `Host` header, and is refused here. Allowed:
 * `localhost`, any IP address written as such (a rebinding page cannot make the browser send one
 * as its Host: the page's origin is a name), and the names the operator adds (`--allowed-host`).
 * Names match whole and without case; the port is not looked at.
 */
import { isIP } from "node:net";

/** Names every orchestrator answers to, besides IP literals. */
export const DEFAULT_ALLOWED_HOSTS: readonly string[] = ["localhost"];

/** The host name of a `Host` header: lowercased, its port and IPv6 brackets taken off. */
export function hostNameOf(header: string): string {
  const value = header.trim().toLowerCase();
  let name = value;
  if (value.startsWith("[")) {
    const end = value.indexOf("]");
    name = end === -1 ? value : value.slice(1, end);
  } else {
    const colon = value.indexOf(":");
    // Two colons or more: an IPv6 address without brackets, which has no port to take off.
    if (colon !== -1 && value.indexOf(":", colon + 1) === -1) name = value.slice(0, colon);
  }
  // "localhost." is localhost: a fully qualified name may end with its root's dot.
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/**
 * Whether a request with this `Host` header may be answered. A request without one (HTTP/1.0, or
 * a tool that sends none) is answered: a browser always sends it.
 */
export function hostAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (header === undefined || header === "") return true;
  const name = hostNameOf(header);
  return isIP(name) !== 0 || allowed.has(name);
}

/** The allow list from the defaults and the operator's names (lowercased, without a trailing dot). */
export function compileAllowedHosts(extra: readonly string[] = []): ReadonlySet<string> {
  return new Set([...DEFAULT_ALLOWED_HOSTS, ...extra].map((h) => hostNameOf(h)));
}
