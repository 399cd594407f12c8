/** Small helpers for the page's DOM. */

/** The element with this id; the page's HTML and its code are written together, so a missing one is a bug. */
export function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

/** Lets the browser paint and handle clicks (e.g. Stop) between steps of a long computation. */
export function pause(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Characters the model does not know, each named and counted: "é" ×2, "—" ×1. */
export function describeUnknown(counts: Map<string, number>): string {
  return [...counts].map(([ch, n]) => `${JSON.stringify(ch)} ×${n}`).join(', ');
}

export function formatNumber(value: number, digits: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
