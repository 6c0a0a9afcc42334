/**
 * One HTTP(S) request of the CLI, on node:http and node:https rather than fetch: Node's fetch
 * cannot be given a CA to trust (its undici Agent is not exposed), and the CLI must verify an
 * orchestrator's certificate against the CA of its context, and nothing else. The response's
 * body is the IncomingMessage itself, an async iterable of chunks.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";

/** What a request sends. */
export interface TransportRequest {
  readonly method: string;
  readonly headers: OutgoingHttpHeaders;
  readonly body?: string;
  readonly signal?: AbortSignal;
  /** The CA certificates (PEM) that may vouch for an https server; without: the system's. */
  readonly ca?: Buffer;
}

/** Sends a request to `url`; resolves with the response once its headers arrive. */
export function send(url: URL, req: TransportRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const options = {
      method: req.method,
      headers: req.headers,
      ...(req.signal === undefined ? {} : { signal: req.signal }),
    };
    const request =
      url.protocol === "https:"
        ? httpsRequest(url, { ...options, ...(req.ca === undefined ? {} : { ca: req.ca }) }, resolve)
        : httpRequest(url, options, resolve);
    request.once("error", reject);
    request.end(req.body);
  });
}

/** The whole body of a response, as text. */
export async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
