/**
 * `GET /v1/deployments/:id/logs`: a deployment's output streamed as chunked `text/plain`. With
 * `follow=true` the response stays open for new output; a client that goes away aborts the read
 * (the AbortSignal given to ControlPlane.logs), so no runner keeps streaming to nobody.
 */
import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { ControlPlane } from "../control-plane.ts";
import { idParams, logsQuery, parseInput } from "./request-input.ts";

/**
 * How long the first chunk is awaited before the 200 and its headers go out. An unknown
 * deployment fails at once and so still gets a 404 with a JSON body; a quiet `follow` still gets
 * its headers promptly.
 */
const FIRST_CHUNK_WAIT_MS = 100;

/** How long a closing server waits for open log streams to end before dropping them. */
const CLOSE_WAIT_MS = 1000;

type Next = IteratorResult<Uint8Array>;

/** Registers the log route. */
export function registerLogRoute(app: FastifyInstance, control: ControlPlane): void {
  /** Open reads: how to stop each, and when its response is over. */
  const reads = new Map<AbortController, Promise<void>>();
  // Ordering rule: on close, streams end (and their last chunk goes out) before the server drops
  // its connections, so followers see a clean end; a read that ignores its abort is cut after a bound.
  app.addHook("preClose", async () => {
    for (const read of reads.keys()) read.abort();
    await settledWithin(Promise.all(reads.values()), CLOSE_WAIT_MS);
  });
  app.get("/v1/deployments/:id/logs", async (request, reply) => {
    const { id } = parseInput(idParams, request.params, "path");
    const { stream, follow, tail } = parseInput(logsQuery, request.query, "query");
    const abort = new AbortController();
    // `close` on the response: sent in full, or the connection is gone. Either way, stop reading.
    const over = new Promise<void>((resolve) =>
      reply.raw.once("close", () => {
        reads.delete(abort);
        abort.abort();
        resolve();
      }),
    );
    reads.set(abort, over);
    const options = {
      stream,
      follow,
      ...(tail === undefined ? {} : { tailBytes: tail }),
      signal: abort.signal,
    };
    const iterator = control.logs(id, options)[Symbol.asyncIterator]();
    const first = iterator.next();
    await settledWithin(first, FIRST_CHUNK_WAIT_MS);
    return reply
      .type("text/plain; charset=utf-8")
      .header("cache-control", "no-store")
      .header("x-content-type-options", "nosniff")
      .send(Readable.from(chunks(first, iterator), { objectMode: false }));
  });
}

/** Yields the first result, then the rest; always tells the source it is done with. */
async function* chunks(
  first: Promise<Next>,
  iterator: AsyncIterator<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  let finished = false;
  try {
    let next = await first;
    while (!next.done) {
      yield next.value;
      next = await iterator.next();
    }
    finished = true;
  } finally {
    if (!finished) await iterator.return?.();
  }
}

/**
 * Resolves once `promise` settles or `ms` pass, whichever is first; rethrows if it rejected in
 * time (so an unknown deployment becomes the route's error, answered as JSON).
 */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([promise.then(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
