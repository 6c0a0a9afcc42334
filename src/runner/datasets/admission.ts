/**
 * Whether a dataset of a given size fits the budget, and which idle datasets to evict for it:
 * least recently used first, never one in use or still loading. Pure, so the cache re-plans after
 * every eviction (a dataset may have been pinned meanwhile).
 */
import { formatBytes } from "../../core/units.ts";

/** A dataset as admission sees it. */
export interface Resident {
  readonly name: string;
  /** Bytes held or reserved. */
  readonly bytes: number;
  readonly state: "loading" | "hot";
  readonly users: number;
  /** Higher is more recent. */
  readonly lastUse: number;
}

/** The plan: evict these (in order) and it fits — or it cannot fit, because of these. */
export type Admission =
  | { readonly fits: true; readonly victims: readonly Resident[] }
  | { readonly fits: false; readonly pinned: readonly Resident[]; readonly loading: readonly Resident[] };

/** Plans room for `size` bytes among `residents` (the dataset being admitted excluded). */
export function planAdmission(residents: readonly Resident[], size: number, budgetBytes: number): Admission {
  let used = residents.reduce((sum, r) => sum + r.bytes, 0);
  const idle = residents
    .filter((r) => r.state === "hot" && r.users === 0)
    .sort((a, b) => a.lastUse - b.lastUse);
  const evictable = idle.reduce((sum, r) => sum + r.bytes, 0);
  if (used - evictable + size > budgetBytes) {
    return {
      fits: false,
      pinned: residents.filter((r) => r.state === "hot" && r.users > 0),
      loading: residents.filter((r) => r.state === "loading" && r.bytes > 0),
    };
  }
  const victims: Resident[] = [];
  for (const r of idle) {
    if (used + size <= budgetBytes) break;
    victims.push(r);
    used -= r.bytes;
  }
  return { fits: true, victims };
}

/** The message of a dataset that cannot fit: budget, size, and what holds the room. */
export function describeNoRoom(
  name: string,
  size: number,
  budgetBytes: number,
  dir: string,
  plan: Extract<Admission, { fits: false }>,
): string {
  const sum = (list: readonly Resident[]): number => list.reduce((total, r) => total + r.bytes, 0);
  const list = (items: readonly Resident[]): string =>
    items.length === 0 ? "none" : items.map((r) => `${r.name} ${formatBytes(r.bytes)}`).join(", ");
  const left = Math.max(0, budgetBytes - sum(plan.pinned) - sum(plan.loading));
  return (
    `dataset ${name} (${formatBytes(size)}) does not fit the dataset budget of ${formatBytes(budgetBytes)} ` +
    `in ${dir}: ${formatBytes(sum(plan.pinned))} is pinned by running processes (${list(plan.pinned)}) and ` +
    `${formatBytes(sum(plan.loading))} is being loaded (${list(plan.loading)}); evicting every idle dataset ` +
    `would leave ${formatBytes(left)}`
  );
}
