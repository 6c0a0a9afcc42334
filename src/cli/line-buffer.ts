/** Turns a byte stream into whole lines (UTF-8, split on `\n`), for output that goes line by line. */
export class LineBuffer {
  private readonly decoder = new TextDecoder();
  private partial = "";

  /** The lines this chunk completes, without their `\n`. */
  push(chunk: Uint8Array): string[] {
    const lines = (this.partial + this.decoder.decode(chunk, { stream: true })).split("\n");
    this.partial = lines.pop() ?? "";
    return lines;
  }

  /** What is left once the stream has ended: a last line with no `\n`, if any. */
  flush(): string | undefined {
    const rest = this.partial + this.decoder.decode();
    this.partial = "";
    return rest === "" ? undefined : rest;
  }
}
