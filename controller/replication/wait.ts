/**
 * Re-checks after 10, 20, 40 ms, then every 100 ms. The first check usually comes right after a REPLICAOF,
 * before the partial resync it starts has finished (a few ms on a healthy link); waiting a whole 100 ms for
 * the second one would add that much to every promotion.
 */
const DELAYS_MS = [10, 20, 40];
const STEADY_DELAY_MS = 100;

/** Polls `check` (see DELAYS_MS) until it holds or `timeoutMs` passes; returns whether it held. */
export async function pollUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    const delay = DELAYS_MS[attempt] ?? STEADY_DELAY_MS;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
