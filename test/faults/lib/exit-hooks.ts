/**
 * Last-chance cleanup when a test process ends without running its own `after` hooks: a normal
 * exit, an uncaught error, or SIGINT/SIGTERM. Hooks must be synchronous (an `exit` listener cannot
 * await). A SIGKILLed process runs nothing; `sweepStaleNamespaces` handles what it leaves.
 */

type Hook = () => void;

const hooks = new Set<Hook>();
let installed = false;

function runAll(): void {
  for (const hook of [...hooks]) {
    try {
      hook();
    } catch (err) {
      // Cleanup must go on for the other hooks; say what failed, on stderr, since we are exiting.
      process.stderr.write(`faults: exit cleanup failed: ${String(err)}\n`);
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runAll();
  // If nobody else handles the signal, die of it as if we had never listened (exit code 128+n).
  if (process.listenerCount(signal) === 1) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  }
}

/** Registers a synchronous cleanup run at process exit and on SIGINT/SIGTERM; returns its remover. */
export function onExitSync(hook: Hook): () => void {
  if (!installed) {
    installed = true;
    process.on("exit", runAll);
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  hooks.add(hook);
  return () => hooks.delete(hook);
}
