/**
 * The inputs of the HTTP API (bodies, query strings, path parameters) as zod schemas, and their
 * checking: a bad input is a ValidationError whose issues name the field as `query.stream` or
 * `body.draining`, so a 400 says what was wrong, where, and what was expected.
 */
import { z } from "zod";
import { describeValue, formatPath, ValidationError, type ValidationIssue } from "../../domain/index.ts";
import { accountName } from "../../domain/schema-helpers.ts";
import { API_ROLES, MAX_AUDIT_PAGE } from "../store/auth-records.ts";

const name = z.string().min(1);

/** `POST /v1/layouts`: a layout's YAML text and the file name its errors should cite. */
export const applyBody = z.strictObject({ source: z.string(), file: name });

/** `POST /v1/nodes/:id/drain`. */
export const drainBody = z.strictObject({ draining: z.boolean() });

/** `GET /v1/deployments`. */
export const deploymentsQuery = z.strictObject({ layout: name.optional(), node: name.optional() });

/** `GET /v1/explain`. */
export const explainQuery = z.strictObject({ layout: name, service: name });

const flag = z
  .string()
  .refine((s) => s === "true" || s === "false", "true or false")
  .transform((s) => s === "true");

const byteCount = z
  .string()
  .refine((s) => /^\d{1,15}$/.test(s), "a whole number of bytes ≥ 0")
  .transform(Number);

/** `GET /v1/deployments/:id/logs`. */
export const logsQuery = z.strictObject({
  stream: z.enum(["stdout", "stderr"]).default("stdout"),
  follow: flag.default(false),
  tail: byteCount.optional(),
});

/** `POST /v1/failover`. */
export const failoverBody = z.strictObject({ layout: name, service: name });

/** `POST /v1/accounts/:account/kill`. */
export const killBody = z.strictObject({
  reason: z.string().max(500).default("kill switch (no reason given)"),
  /** Kill an account that no layout trades and no gateway knows (else that is a 404). */
  force: z.boolean().default(false),
});

/** `POST /v1/gateways/:gateway/reassign`: the controller taken over, as the gateway names it. */
export const reassignBody = z.strictObject({ from: z.string().min(1).max(100) });

/** `POST /v1/gateways/:gateway/reassign`'s path. */
export const gatewayParams = z.strictObject({ gateway: name });

/** `GET /v1/accounts`. */
export const accountsQuery = z.strictObject({ account: name.optional() });

/** Path parameters `:account`: a broker account id, as layouts name them. */
export const accountParams = z.strictObject({ account: accountName });

/** Path parameters `:name` (a layout). */
export const nameParams = z.strictObject({ name });

/** Path parameters `:id` (a node or a deployment). */
export const idParams = z.strictObject({ id: name });

const isoTime = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), "an ISO 8601 time such as 2026-01-31T12:00:00Z");

/** `POST /v1/tokens`: a name, a role, and when it stops being accepted (never without). */
export const tokenBody = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, "a name of letters, digits and . _ @ - (at most 64)"),
  role: z.enum(API_ROLES),
  expiresAt: isoTime.optional(),
});

/** Path parameters `:token`: a token's id or name. */
export const tokenParams = z.strictObject({ token: name });

const count = (max: number) =>
  z
    .string()
    .refine(
      (s) => /^\d{1,15}$/.test(s) && Number(s) >= 1 && Number(s) <= max,
      `a whole number from 1 to ${max}`,
    )
    .transform(Number);

/** `GET /v1/audit`. */
export const auditQuery = z.strictObject({
  since: isoTime.optional(),
  after: z
    .string()
    .refine((s) => /^\d{1,15}$/.test(s), "a sequence number ≥ 0")
    .transform(Number)
    .optional(),
  limit: count(MAX_AUDIT_PAGE).default(100),
});

/** Where an input came from; it prefixes the field paths of its issues. */
export type InputPart = "body" | "query" | "path";

/** Checks `value` against `schema`; throws a ValidationError with one issue per problem. */
export function parseInput<S extends z.ZodObject>(schema: S, value: unknown, part: InputPart): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const fields = Object.keys(schema.shape);
  throw new ValidationError(result.error.issues.flatMap((i) => toIssues(i, part, fields)));
}

function toIssues(issue: z.core.$ZodIssue, part: InputPart, fields: readonly string[]): ValidationIssue[] {
  const path = formatPath([part, ...issue.path]);
  const input: unknown = "input" in issue ? issue.input : undefined;
  const found = input === undefined ? undefined : describeValue(input);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => ({
        path: formatPath([part, ...issue.path, key]),
        found: "an unknown field",
        expected: fields.length === 0 ? "no fields" : `only ${fields.join(", ")}`,
      }));
    case "invalid_type":
      return [
        { path, found, expected: issue.expected === "object" ? "a JSON object" : `a ${issue.expected}` },
      ];
    case "invalid_value":
      return [{ path, found, expected: `one of ${issue.values.map((v) => String(v)).join(", ")}` }];
    case "too_small":
      return [{ path, found, expected: "a non-empty string" }];
    default:
      return [{ path, found, expected: issue.message }];
  }
}
