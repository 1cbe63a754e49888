/**
 * The drill's timeline — replication lag, the DR leader's link state, each region's role, and the drill's
 * steps — rendered as one self-contained SVG (no scripts, no external files).
 */

export type LinkState = "up" | "syncing" | "down" | "none";
export type Role = "primary" | "replica" | "unknown";

export interface TimelineSample {
  readonly atMs: number;
  /** Bytes the DR leader is behind its source (measured from both sides' INFO), when it replicates. */
  readonly lagBytes: number | undefined;
  readonly link: LinkState;
  readonly roles: Readonly<Record<string, Role>>;
}

export interface TimelineMark {
  readonly atMs: number;
  readonly label: string;
}

const LINK_COLOURS: Record<LinkState, string> = {
  up: "#2e7d32",
  syncing: "#f9a825",
  down: "#c62828",
  none: "#9e9e9e",
};
const ROLE_COLOURS: Record<Role, string> = { primary: "#1565c0", replica: "#90caf9", unknown: "#e0e0e0" };

const escape = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/** Consecutive samples with the same value, as [from, to) spans. */
function spans<T>(samples: readonly TimelineSample[], value: (s: TimelineSample) => T, endMs: number) {
  const result: { from: number; to: number; value: T }[] = [];
  samples.forEach((sample, i) => {
    const v = value(sample);
    const to = samples[i + 1]?.atMs ?? endMs;
    const last = result.at(-1);
    if (last !== undefined && last.value === v) last.to = to;
    else result.push({ from: sample.atMs, to, value: v });
  });
  return result;
}

export function renderTimelineSvg(input: {
  readonly title: string;
  readonly samples: readonly TimelineSample[];
  readonly marks: readonly TimelineMark[];
  readonly regions: readonly string[];
}): string {
  const { samples, marks, regions } = input;
  const endMs = Math.max(samples.at(-1)?.atMs ?? 1, marks.at(-1)?.atMs ?? 1, 1);
  const width = 1100;
  const left = 150;
  const right = 20;
  const plotWidth = width - left - right;
  const lagTop = 50;
  const lagHeight = 200;
  const bandHeight = 22;
  const linkTop = lagTop + lagHeight + 30;
  const rolesTop = linkTop + bandHeight + 12;
  const marksTop = rolesTop + regions.length * (bandHeight + 8) + 20;
  const height = marksTop + marks.length * 16 + 20;
  const x = (ms: number) => left + (ms / endMs) * plotWidth;
  const maxLag = Math.max(1, ...samples.map((s) => s.lagBytes ?? 0));
  const y = (lag: number) => lagTop + lagHeight - (lag / maxLag) * lagHeight;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="24" font-size="16" font-weight="bold">${escape(input.title)}</text>`,
    // Lag plot: axes, scale, the line (gaps where the leader does not replicate).
    `<text x="10" y="${lagTop + 12}">lag (bytes)</text>`,
    `<text x="${left - 6}" y="${lagTop + 4}" text-anchor="end">${maxLag}</text>`,
    `<text x="${left - 6}" y="${lagTop + lagHeight}" text-anchor="end">0</text>`,
    `<line x1="${left}" y1="${lagTop + lagHeight}" x2="${width - right}" y2="${lagTop + lagHeight}" stroke="#555"/>`,
    `<line x1="${left}" y1="${lagTop}" x2="${left}" y2="${lagTop + lagHeight}" stroke="#555"/>`,
  );
  let path = "";
  let pen = false;
  for (const sample of samples) {
    if (sample.lagBytes === undefined) {
      pen = false;
      continue;
    }
    path += `${pen ? "L" : "M"}${x(sample.atMs).toFixed(1)},${y(sample.lagBytes).toFixed(1)} `;
    pen = true;
  }
  if (path !== "") parts.push(`<path d="${path.trim()}" fill="none" stroke="#6a1b9a" stroke-width="1.5"/>`);
  // Link state band.
  parts.push(`<text x="10" y="${linkTop + 15}">DR leader's link</text>`);
  for (const span of spans(samples, (s) => s.link, endMs)) {
    parts.push(
      `<rect x="${x(span.from).toFixed(1)}" y="${linkTop}" width="${Math.max(0.5, x(span.to) - x(span.from)).toFixed(1)}" height="${bandHeight}" fill="${LINK_COLOURS[span.value]}"><title>link ${span.value}</title></rect>`,
    );
  }
  // One role band per region.
  regions.forEach((region, i) => {
    const top = rolesTop + i * (bandHeight + 8);
    parts.push(`<text x="10" y="${top + 15}">${escape(region)} role</text>`);
    for (const span of spans(samples, (s) => s.roles[region] ?? "unknown", endMs)) {
      parts.push(
        `<rect x="${x(span.from).toFixed(1)}" y="${top}" width="${Math.max(0.5, x(span.to) - x(span.from)).toFixed(1)}" height="${bandHeight}" fill="${ROLE_COLOURS[span.value]}"><title>${escape(region)}: ${span.value}</title></rect>`,
      );
    }
  });
  // Steps: a dashed line across the plot and a numbered legend below.
  marks.forEach((mark, i) => {
    const mx = x(mark.atMs).toFixed(1);
    parts.push(
      `<line x1="${mx}" y1="${lagTop}" x2="${mx}" y2="${marksTop - 14}" stroke="#999" stroke-dasharray="3,3"/>`,
      `<text x="${mx}" y="${lagTop - 4}" text-anchor="middle" fill="#555">${i + 1}</text>`,
      `<text x="${left}" y="${marksTop + i * 16}">${escape(`${(mark.atMs / 1000).toFixed(1)}s  ${mark.label}`)}</text>`,
    );
  });
  // Legend for the colours.
  const legend = [
    ...Object.entries(LINK_COLOURS).map(([k, c]) => [`link ${k}`, c] as const),
    ...Object.entries(ROLE_COLOURS).map(([k, c]) => [k, c] as const),
  ];
  legend.forEach(([label, colour], i) => {
    const lx = left + 300 + i * 80;
    parts.push(
      `<rect x="${lx}" y="32" width="10" height="10" fill="${colour}"/>`,
      `<text x="${lx + 14}" y="41">${escape(label)}</text>`,
    );
  });
  parts.push(
    `<text x="${width - right}" y="${lagTop + lagHeight + 16}" text-anchor="end">${(endMs / 1000).toFixed(1)}s</text>`,
  );
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
