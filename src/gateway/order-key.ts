/** The gateway's idempotency key of an order: client order ids are per account. */

/** The key of `clientOrderId` on `account`, for the maps and tables of consumed ids. */
export function orderKey(account: string, clientOrderId: string): string {
  return `${account}\u0001${clientOrderId}`;
}
