import type {TopologyMap} from './types.js'

/** A DOT id or label, quoted. */
const q = (s: string) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', String.raw`\"`).replaceAll('\n', String.raw`\n`)}"`

/**
 * The map as a Graphviz DOT graph, left to right: public hostnames → the tunnel → Services →
 * workloads → PersistentVolumeClaims → PersistentVolumes → host folders → the Kopia repository.
 * Each app is one cluster subgraph named `cluster_app_<name>` (labelled with the app's name)
 * holding its Services, workloads, claims, volumes and folder.
 */
export function toDot(map: TopologyMap): string {
  const lines = [
    `digraph ${q(map.cluster)} {`,
    '  rankdir=LR; newrank=true; nodesep=0.25; ranksep=0.6;',
    '  graph [fontname="Helvetica", fontsize=11, labeljust=l, style="rounded", color="#9aa5b1"];',
    '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", fillcolor="#ffffff", color="#52606d"];',
    '  edge [fontname="Helvetica", fontsize=9, color="#7b8794", arrowsize=0.6];',
  ]
  const hostnames = [...new Set((map.tunnel?.routes ?? []).map((r) => r.hostname))]
  for (const h of hostnames) lines.push(`  ${q(`hostname:${h}`)} [label=${q(h)}, shape=note, fillcolor="#e3f8ff"];`)
  if (map.tunnel) lines.push(`  "tunnel" [label=${q(`Cloudflare Tunnel\n${map.tunnel.id ?? 'cloudflared'}`)}, shape=cds, fillcolor="#fff3c4"];`)
  lines.push(`  "kopia" [label=${q(`Kopia repository\n${map.backup.repositoryPath}\n→ R2 ${map.backup.bucket}`)}, shape=cylinder, fillcolor="#e8e3ff"];`)

  const edges: string[] = []
  for (const h of hostnames) edges.push(`  ${q(`hostname:${h}`)} -> "tunnel";`)
  for (const a of map.apps) {
    const id = (kind: string, name: string) => q(`${a.name}:${kind}:${name}`)
    lines.push(`  subgraph ${q(`cluster_app_${a.name}`)} {`, `    label=${q(`${a.name}${a.namespace ? ` (${a.namespace})` : ''}`)};`)
    for (const s of a.services) lines.push(`    ${id('svc', s.name)} [label=${q(`Service ${s.name}\n:${s.ports.map((p) => p.port).join(', :')}`)}, fillcolor="#d9f2e6"];`)
    for (const w of a.workloads) lines.push(`    ${id('wl', w.name)} [label=${q(`${w.kind} ${w.name}\n${w.containers[0]?.image.split('@')[0] ?? ''}`)}, fillcolor="#f0f4f8"];`)
    for (const v of a.volumes) {
      lines.push(`    ${id('pvc', v.claim)} [label=${q(`PVC ${v.claim}`)}, shape=box, fillcolor="#fce8f3"];`)
      if (v.volume) lines.push(`    ${id('pv', v.volume)} [label=${q(`PV ${v.volume}${v.capacity ? `\n${v.capacity}` : ''}`)}, fillcolor="#fce8f3"];`)
      if (v.hostPath) lines.push(`    ${id('dir', v.hostPath)} [label=${q(`${v.hostPath}\non ${v.node}`)}, shape=folder, fillcolor="#fff8e1"];`)
    }

    lines.push('  }')
    for (const r of a.hostnames) if (r.target) edges.push(`  "tunnel" -> ${id('svc', r.target.name)} [label=${q(r.hostname)}];`)
    for (const s of a.services) for (const w of s.workloads) edges.push(`  ${id('svc', s.name)} -> ${id('wl', w)};`)
    for (const w of a.workloads) for (const c of w.claims) if (a.volumes.some((v) => v.claim === c)) edges.push(`  ${id('wl', w.name)} -> ${id('pvc', c)};`)
    for (const v of a.volumes) {
      if (v.volume) edges.push(`  ${id('pvc', v.claim)} -> ${id('pv', v.volume)};`)
      if (v.volume && v.hostPath) edges.push(`  ${id('pv', v.volume)} -> ${id('dir', v.hostPath)};`)
      if (v.hostPath && a.backup) edges.push(`  ${id('dir', v.hostPath)} -> "kopia" [label=${q(a.backup.mode)}];`)
    }
  }

  return [...lines, ...edges, '}', ''].join('\n')
}

/**
 * The map as an SVG diagram ({@link toDot} laid out by Graphviz `dot`, compiled to WebAssembly:
 * @hpcc-js/wasm-graphviz, so nothing needs to be installed).
 * @throws Error when Graphviz rejects the graph (a bug here, not in the homelab)
 */
export async function renderSvg(map: TopologyMap): Promise<string> {
  const {Graphviz} = await import('@hpcc-js/wasm-graphviz')
  const graphviz = await Graphviz.load()
  return graphviz.dot(toDot(map), 'svg')
}
