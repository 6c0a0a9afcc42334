/**
 * The text `hive apply` sends: the layout file as the user wrote it, with each service kept in a
 * file of its own (`- file: gateway.yaml`) put in place, since the orchestrator cannot read the
 * user's files. The file must have been checked by readLayoutFile first.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { isMap, isScalar, isSeq, parseDocument } from "yaml";

/** The layout's YAML with its manifest files inlined; the text itself when it has none. */
export function layoutSource(file: string): string {
  const text = readFileSync(file, "utf8");
  const doc = parseDocument(text);
  const services = doc.get("services");
  if (!isSeq(services)) return text;
  let inlined = false;
  services.items = services.items.map((entry) => {
    if (!isMap(entry) || entry.items.length !== 1) return entry;
    const ref = entry.get("file", true);
    if (!isScalar(ref) || typeof ref.value !== "string") return entry;
    const path = isAbsolute(ref.value) ? ref.value : join(dirname(file), ref.value);
    inlined = true;
    return parseDocument(readFileSync(path, "utf8")).contents;
  });
  return inlined ? doc.toString() : text;
}
