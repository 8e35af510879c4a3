// The verifier waits on a clock: between rounds, until the settle time, until the deadline. Against a fake cluster
// that answers at once those waits are the whole run time. Here they pass at once instead: the verifier runs on
// vitest's fake timers and Date, and whenever it waits, the clock moves to its next timer. The order of events
// and every time the verifier sees are the same as on the real clock.
import { vi } from "vitest";
import { verifyPlan } from "../../src/verify/verifier";

export async function onFakeClock<T>(work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  try {
    let settled = false;
    const result = work().finally(() => (settled = true));
    while (!settled) {
      // Let what is not a timer run first (setImmediate is real here): only a wait on the clock moves it.
      await new Promise((resolve) => setImmediate(resolve));
      if (!settled) await vi.advanceTimersToNextTimerAsync();
    }
    return await result;
  } finally {
    vi.useRealTimers();
  }
}

/** verifyPlan, on the fake clock. */
export const verifyOnFakeClock = (...args: Parameters<typeof verifyPlan>) => onFakeClock(() => verifyPlan(...args));
