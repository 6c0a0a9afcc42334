import { z } from "zod";
import { parseBytes } from "../core/units.ts";

/** A lower-case name usable in DNS and logs: `momentum`, `es-feeder-2`. */
export const serviceName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, "a name of lower-case letters, digits and '-', starting with a letter");

/** A socket, port or dataset name; it becomes part of an environment variable (HIVE_SOCKET_<NAME>). */
export const envName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, "a name of lower-case letters, digits and '_', starting with a letter");

/** A node tag such as `data_node`, `ram_128gb`, `region_tokyo`. */
export const tagName = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.:-]{0,62}$/, "a tag of letters, digits, '_', '.', ':' or '-'");

/** A byte size written as "512MiB", "4GiB", "1.5G" or a plain number of bytes. */
export const byteSize = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = parseBytes(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: "custom", message: "a size such as 512MiB, 4GiB or a number of bytes" });
    return z.NEVER;
  }
  return bytes;
});

/** A positive byte size (memory requests may not be zero). */
export const positiveByteSize = byteSize.refine((n) => n > 0, "a size above zero, such as 256MiB");

/** A broker account id such as `paper-001` or `DU1234567`. */
export const accountName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, "an account id of letters, digits, '_', '.', ':' or '-'");
