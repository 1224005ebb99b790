// How much of a lease a delivery may use. Leases are not renewed: the worker cuts a delivery a
// margin before its lease ends, so it never delivers a job another worker may already have
// reclaimed. `check` holds action timeouts to the same budget (src/config/effects.ts).

/** The safety margin before a lease's end: a tenth of the lease, at most 1 s. */
export function leaseMarginMs(leaseMs: number): number {
  return Math.min(1000, Math.floor(leaseMs / 10));
}

/** The longest a delivery can run from its claim before the worker cuts it. */
export function deliveryBudgetMs(leaseMs: number): number {
  return leaseMs - leaseMarginMs(leaseMs);
}

/** The shortest lease whose budget holds a delivery of `timeoutMs`. */
export function leaseForMs(timeoutMs: number): number {
  let lease = timeoutMs + 1000 >= 10_000 ? timeoutMs + 1000 : Math.ceil(timeoutMs / 0.9);
  while (deliveryBudgetMs(lease) < timeoutMs) lease++;
  return lease;
}
