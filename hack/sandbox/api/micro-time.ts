/**
 * metav1.MicroTime as the API server decodes it: Go's time.Parse with RFC3339Micro, which takes exactly six
 * fractional digits (a JavaScript Date serializes three, and the real API server refuses it with 400).
 */

const RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00";

/** Go's layout elements of RFC3339Micro, in order, with what each accepts (syntax only). */
const ELEMENTS: readonly (readonly [string, RegExp])[] = [
  ["2006", /^\d{4}/],
  ["-", /^-/],
  ["01", /^\d{2}/],
  ["-", /^-/],
  ["02", /^\d{2}/],
  ["T", /^T/],
  ["15", /^\d{1,2}/],
  [":", /^:/],
  ["04", /^\d{2}/],
  [":", /^:/],
  ["05", /^\d{2}/],
  [".000000", /^[.,]\d{6}/],
  ["Z07:00", /^(Z|[+-]\d{2}:\d{2})/],
];

/**
 * Go's error for `value` as a MicroTime, in Go's words (`parsing time "…" as "…": cannot parse "…" as "…"`),
 * or undefined when it parses. Syntax only: a month 13 passes here, where Go says it is out of range.
 */
export function microTimeError(value: string): string | undefined {
  let rest = value;
  for (const [element, accepts] of ELEMENTS) {
    const match = accepts.exec(rest);
    if (match === null) {
      return `parsing time ${JSON.stringify(value)} as "${RFC3339_MICRO}": cannot parse ${JSON.stringify(rest)} as "${element}"`;
    }
    rest = rest.slice(match[0].length);
  }
  return rest === ""
    ? undefined
    : `parsing time ${JSON.stringify(value)}: extra text: ${JSON.stringify(rest)}`;
}
