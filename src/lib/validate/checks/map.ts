import {promises as fs} from 'node:fs'
import path from 'node:path'

import {HomelabError} from '../../errors.js'
import type {Check} from '../check.js'
import {FindingList} from '../finding.js'

/**
 * Check 9: the committed map (docs/topology.md, written by `homelab map --format markdown`) is
 * what the repository says now: the map is built again (src/lib/map, `kubectl kustomize` per
 * app) and rendered; any difference is an error at the first line that differs. Nothing to check
 * when the file is absent; a docs/topology.md without the generated marker is someone's own
 * document and is left alone (an info finding).
 */
export const mapCheck: Check = {
  id: 'map',
  title: 'the committed map docs/topology.md is current',
  async run(context) {
    const [{GENERATED_MARKER, renderMarkdown, TOPOLOGY_DOC}, {buildMap}] = await Promise.all([import('../../map/markdown.js'), import('../../map/model.js')])
    const out = new FindingList('map')
    const text = await fs.readFile(path.join(context.root, TOPOLOGY_DOC), 'utf8').catch(() => undefined)
    if (text === undefined) return {findings: []}
    if (!text.startsWith(GENERATED_MARKER)) {
      out.info(TOPOLOGY_DOC, 1, `${TOPOLOGY_DOC} was not written by \`homelab map --format markdown\` (no generated marker on line 1): not compared`)
      return {findings: out.findings}
    }

    if (!context.homelab) return {findings: [], skipped: `homelab.yaml did not load: ${TOPOLOGY_DOC} not compared`}
    const kubectl = await context.tool('kubectl')
    if (!kubectl) return {findings: [], skipped: `kubectl not found: ${TOPOLOGY_DOC} not compared`}
    let expected: string
    try {
      expected = renderMarkdown(await buildMap({homelab: context.homelab, kubectl}))
    } catch (error) {
      if (!(error instanceof HomelabError)) throw error
      return {findings: [], skipped: `the map does not build (${error.message}): ${TOPOLOGY_DOC} not compared`}
    }

    if (text === expected) return {findings: []}
    const have = text.split('\n')
    const want = expected.split('\n')
    let line = 0
    while (line < Math.max(have.length, want.length) && have[line] === want[line]) line++
    const now = want[line] === undefined ? 'ends here' : `says ${JSON.stringify(want[line].length > 80 ? `${want[line].slice(0, 77)}...` : want[line])}`
    out.error(TOPOLOGY_DOC, line + 1, `stale: the repository's map differs from line ${line + 1} on (it now ${now}); regenerate it with \`homelab map --format markdown --output ${TOPOLOGY_DOC}\` and commit it`)
    return {findings: out.findings}
  },
}
