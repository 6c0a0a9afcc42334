// The relay thread's entry (relay-thread.ts starts it): loads the TypeScript sources through tsx
// as the commands do (bin/run.cjs), whatever loader the main thread was started with.
import { register } from "tsx/esm/api";

register();
await import("./relay-worker.ts");
