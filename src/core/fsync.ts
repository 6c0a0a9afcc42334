/**
 * Making a directory's entries durable: after a file is created or renamed in it, the file's own
 * fsync does not cover its name; an fsync of the directory does (POSIX leaves it to the file
 * system, and ext4, XFS and btrfs need it).
 */
import { closeSync, fsyncSync, openSync } from "node:fs";
import { open } from "node:fs/promises";

/** fsyncs a directory off the event loop (libuv's thread pool). */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncs a directory on the calling thread (start-up paths, where nothing else waits). */
export function fsyncDirectorySync(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
