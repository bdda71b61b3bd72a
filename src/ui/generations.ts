import type {GenerationEntry} from '../lib/generations/index.js'
import type {ChalkInstance} from 'chalk'

/**
 * The text of `homelab generations`: per host a heading, then one line per generation, newest
 * first: `* 3  2026-12-01 08:00:00  25.11.20261201.abc1234  abc1234  (current)`; a host that
 * failed shows its error instead.
 */
export function renderGenerations(hosts: Array<{host: string; ok: boolean; generations: GenerationEntry[]; error?: {message: string}}>, c: ChalkInstance): string {
  const out: string[] = []
  for (const h of hosts) {
    if (out.length > 0) out.push('')
    if (!h.ok) {
      out.push(`${c.red('✗')} ${c.bold(h.host)}: ${h.error?.message ?? 'failed'}`)
      continue
    }

    out.push(c.bold(`${h.host}: ${h.generations.length} generation${h.generations.length === 1 ? '' : 's'}`))
    const width = Math.max(3, ...h.generations.map((g) => String(g.number).length))
    const version = Math.max(5, ...h.generations.map((g) => g.nixosVersion.length))
    out.push(c.dim(`  ${'GEN'.padStart(width)}  ${'DATE'.padEnd(19)}  ${'NIXOS'.padEnd(version)}  REVISION`))
    for (const g of h.generations) {
      const revision = g.configurationRevision ? g.configurationRevision.slice(0, 12) : '-'
      const line = `${g.current ? '*' : ' '} ${String(g.number).padStart(width)}  ${g.date.padEnd(19)}  ${g.nixosVersion.padEnd(version)}  ${revision}${g.current ? '  (current)' : ''}`
      out.push(g.current ? c.green(line) : line)
    }
  }

  return out.join('\n')
}
