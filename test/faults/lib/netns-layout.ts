/**
 * Where a test namespace's pieces live, as pure functions of its slot number. Everything a
 * namespace adds to the root namespace (the veth, extra addresses on `lo`, a policy-routing rule
 * and its table) is named after the slot, so a sweep can tell what belongs to which namespace
 * from `ip` output alone, after the process that made them is gone.
 *
 * Slot s owns 10.213.a.b/30 (root side .b+1, namespace side .b+2), the four addresses
 * 10.214.a.b..b+3 for extra root-side addresses, veths `hvt<s>h` / `hvt<s>n` and routing table
 * TABLE_BASE + s. The slot is claimed by creating the veth: the kernel's EEXIST is the lock.
 */

/** Default prefix of test namespace names: `<prefix><pid>-<name>`. */
export const DEFAULT_PREFIX = "hivet-";

/** Number of slots: 10.213.0.0/16 cut into /30s. */
export const SLOT_COUNT = 16_384;

/** Extra root-side addresses one namespace may add. */
export const EXTRA_ADDRESSES_PER_SLOT = 4;

/** First routing table used for the root side of cuts (table = TABLE_BASE + slot). */
export const TABLE_BASE = 20_000;

/** Priority of the root-side `ip rule`s; below `main` (32766) so they are looked up first. */
export const RULE_PRIORITY = 100;

/**
 * The next hop a cut route points at, and the MAC it resolves to. The MAC is nobody's, so the
 * peer veth receives the frame as PACKET_OTHERHOST and IP drops it without a word: no ICMP, no
 * RST, no local error to the sender — what a pulled cable looks like from both ends.
 */
export const DEAD_HOP = {
  nsSide: "169.254.213.1",
  hostSide: "169.254.213.2",
  mac: "02:00:00:de:ad:01",
} as const;

function quad(base: number, offset: number, slot: number): string {
  return `10.${base}.${slot >> 6}.${((slot & 63) << 2) + offset}`;
}

/** The addresses of a slot's /30. */
export function slotAddresses(slot: number): { hostAddress: string; nsAddress: string; prefixLen: 30 } {
  return { hostAddress: quad(213, 1, slot), nsAddress: quad(213, 2, slot), prefixLen: 30 };
}

/** The k-th extra root-side address of a slot (0 <= k < EXTRA_ADDRESSES_PER_SLOT). */
export function extraAddress(slot: number, k: number): string {
  return quad(214, k, slot);
}

/** The veth pair of a slot: `host` stays in the root namespace, `ns` moves into the namespace. */
export function vethNames(slot: number): { host: string; ns: string } {
  return { host: `hvt${slot}h`, ns: `hvt${slot}n` };
}

/** The label of extra addresses on `lo` (labels must be `<dev>:...`, at most 15 characters). */
export function addressLabel(slot: number): string {
  return `lo:hvt${slot}`;
}

/** The slot of a root-side veth name, or undefined if it is not one of ours. */
export function slotOfHostVeth(ifname: string): number | undefined {
  const m = /^hvt(\d+)h$/.exec(ifname);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** The slot of an `lo` address label, or undefined if it is not one of ours. */
export function slotOfLabel(label: string): number | undefined {
  const m = /^lo:hvt(\d+)$/.exec(label);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** The slot of a routing table number, or undefined if it is not one of ours. */
export function slotOfTable(table: string | number): number | undefined {
  const t = Number(table);
  return Number.isInteger(t) && t >= TABLE_BASE && t < TABLE_BASE + SLOT_COUNT ? t - TABLE_BASE : undefined;
}

/** The namespace name for this process: `<prefix><pid>-<name>`. */
export function namespaceName(prefix: string, pid: number, name: string): string {
  return `${prefix}${pid}-${name}`;
}

/** The pid that created a namespace, or undefined if the name does not have our shape. */
export function ownerPid(prefix: string, nsName: string): number | undefined {
  if (!nsName.startsWith(prefix)) return undefined;
  const m = /^(\d+)-/.exec(nsName.slice(prefix.length));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}
