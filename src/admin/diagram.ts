// A machine drawn as SVG from its definition (the MachineDiagram the actors port gives): states laid out in
// columns by their distance from the initial state, nested states shown by their dotted path, transitions as
// labelled arrows. Plain string building, no layout library, so the admin page works offline.
import type { MachineDiagram } from './actorsPort.ts';

const BOX_W = 180;
const BOX_H = 34;
const COL_GAP = 150;
const ROW_GAP = 34;
const PAD = 20;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** Columns: breadth-first distance from the initial states, following transitions (unreached states last). */
function columns(d: MachineDiagram): Map<string, number> {
  const col = new Map<string, number>();
  const starts = d.states.filter((s) => s.initial).map((s) => s.id);
  const queue = [...starts];
  for (const id of starts) col.set(id, 0);
  const childrenOf = (id: string) => d.states.filter((s) => s.id.startsWith(`${id}.`));
  while (queue.length > 0) {
    const id = queue.shift() as string;
    const c = col.get(id) ?? 0;
    const next = [
      ...d.transitions.filter((t) => t.source === id).map((t) => t.target),
      // Entering a compound state enters its initial child.
      ...childrenOf(id).filter((s) => s.initial && s.id.split('.').length === id.split('.').length + 1).map((s) => s.id),
    ];
    for (const target of next) {
      if (col.has(target)) continue;
      col.set(target, c + 1);
      queue.push(target);
    }
  }
  let last = Math.max(0, ...col.values());
  for (const s of d.states) if (!col.has(s.id)) col.set(s.id, ++last);
  return col;
}

/**
 * What is drawn: atomic states, and compound states only where a transition leaves them (a transition into a
 * compound state enters its initial child, so it is drawn to that child).
 */
function simplify(d: MachineDiagram): MachineDiagram {
  const byId = new Map(d.states.map((s) => [s.id, s]));
  const initialLeaf = (id: string): string => {
    const child = d.states.find((s) => s.initial && s.id.startsWith(`${id}.`) && s.id.split('.').length === id.split('.').length + 1);
    return child ? initialLeaf(child.id) : id;
  };
  const sources = new Set(d.transitions.map((t) => t.source));
  const states = d.states.filter((s) => s.type === 'atomic' || s.type === 'final' || s.type === 'history' || sources.has(s.id));
  const kept = new Set(states.map((s) => s.id));
  const transitions = d.transitions
    .map((t) => ({ ...t, target: byId.get(t.target)?.type === 'atomic' ? t.target : initialLeaf(t.target) }))
    .filter((t) => kept.has(t.source) && kept.has(t.target));
  // Where the machine starts: the initial leaf of each initial top-level state (several for a parallel machine).
  const starts = new Set(d.states.filter((s) => s.initial && s.depth === 0).map((s) => initialLeaf(s.id)));
  return {
    ...d,
    states: states.map((s) => ({ ...s, initial: starts.has(s.id) })),
    transitions,
  };
}

export function diagramSvg(full: MachineDiagram, activePaths: readonly string[] = []): string {
  const d = simplify(full);
  const col = columns(d);
  const rows = new Map<number, number>();
  const pos = new Map<string, { x: number; y: number }>();
  for (const s of d.states) {
    const c = col.get(s.id) ?? 0;
    const r = rows.get(c) ?? 0;
    rows.set(c, r + 1);
    pos.set(s.id, { x: PAD + c * (BOX_W + COL_GAP), y: PAD + r * (BOX_H + ROW_GAP) });
  }
  const width = PAD * 2 + (Math.max(0, ...col.values()) + 1) * (BOX_W + COL_GAP);
  const height = PAD * 2 + Math.max(1, ...rows.values()) * (BOX_H + ROW_GAP);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="machine" data-machine="${escapeXml(d.id)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>',
  ];
  // Several transitions between the same two states share one arrow with their labels joined.
  const edges = new Map<string, { source: string; target: string; labels: Set<string> }>();
  for (const t of d.transitions) {
    const key = `${t.source}>${t.target}`;
    const edge = edges.get(key) ?? { source: t.source, target: t.target, labels: new Set<string>() };
    edge.labels.add(t.label);
    edges.set(key, edge);
  }
  for (const e of edges.values()) {
    const a = pos.get(e.source);
    const b = pos.get(e.target);
    if (!a || !b) continue;
    const label = escapeXml([...e.labels].join(', '));
    if (e.source === e.target) {
      parts.push(
        `<path d="M${a.x + BOX_W - 30},${a.y} c 10,-22 40,-22 30,0" fill="none" stroke="#666" marker-end="url(#arrow)"><title>${label}</title></path>`,
        `<text x="${a.x + BOX_W - 20}" y="${a.y - 14}" fill="#444" paint-order="stroke" stroke="#fff" stroke-width="3">${label.length > 28 ? `${label.slice(0, 27)}…` : label}</text>`,
      );
      continue;
    }
    const x1 = a.x + (b.x >= a.x ? BOX_W : 0);
    const x2 = b.x + (b.x >= a.x ? 0 : BOX_W);
    const y1 = a.y + BOX_H / 2;
    const y2 = b.y + BOX_H / 2;
    const mx = (x1 + x2) / 2;
    // Backward edges bow downwards so that they do not lie on top of the forward edge between the same states.
    const bow = b.x < a.x ? 22 : 0;
    const my = (y1 + y2) / 2 - 4 + bow;
    const short = label.length > 28 ? `${label.slice(0, 27)}…` : label;
    parts.push(
      `<path d="M${x1},${y1 + bow / 4} C${mx},${y1 + bow * 1.4} ${mx},${y2 + bow * 1.4} ${x2},${y2 + bow / 4}" fill="none" stroke="#666" marker-end="url(#arrow)"><title>${label}</title></path>`,
      `<text x="${mx}" y="${my}" text-anchor="middle" fill="#444" paint-order="stroke" stroke="#fff" stroke-width="3">${short}</text>`,
    );
  }
  for (const s of d.states) {
    const p = pos.get(s.id);
    if (!p) continue;
    const active = activePaths.includes(s.path);
    const fill = active ? '#ffe08a' : s.type === 'atomic' ? '#eef4ff' : '#f6f6f6';
    parts.push(
      `<g class="state" data-path="${escapeXml(s.path)}"><rect x="${p.x}" y="${p.y}" width="${BOX_W}" height="${BOX_H}" rx="8" fill="${fill}" stroke="${s.initial ? '#2a6' : '#888'}" stroke-width="${s.initial ? 2 : 1}"/>`,
      `<text x="${p.x + BOX_W / 2}" y="${p.y + BOX_H / 2 + 4}" text-anchor="middle" font-size="12">${escapeXml(s.path)}${s.type === 'compound' || s.type === 'parallel' ? ' …' : ''}</text></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}
