import {isMap} from 'yaml'

import {listLinksOutside} from '../../fs/inside-repo.js'
import type {Check} from '../check.js'
import {describeObject} from '../check.js'
import {lineOf} from '../context.js'
import {FindingList} from '../finding.js'
import {notRegularMessage} from '../../fs/read-regular.js'
import {IGNORED_DIRS, IGNORED_TOP_DIRS, listNonRegularFiles} from '../repo-files.js'

/**
 * Check 1: every YAML file parses, and every Kubernetes object has a string `apiVersion`, `kind`
 * and `metadata.name` (what the API server requires of a manifest); no symbolic link leads out of
 * the repository (homelab refuses to read or write through one; Flux would not see its files);
 * no FIFO, device or socket (nor a link to one) sits in the tree (homelab reads only regular files).
 */
export const yamlCheck: Check = {
  id: 'yaml',
  title: 'YAML parses; every Kubernetes object has apiVersion, kind and metadata.name',
  async run(context) {
    const out = new FindingList('yaml')
    for (const file of context.yaml) for (const err of file.syntaxErrors) out.error(file.rel, err.line, `invalid YAML: ${err.message}`)
    const skip = (rel: string, name: string) => IGNORED_DIRS.has(name) || (!rel.includes('/') && IGNORED_TOP_DIRS.has(name))
    for (const link of await listLinksOutside(context.root, skip))
      out.error(link.rel, 1, `symbolic link to ${link.target}, outside the repository: homelab does not follow it; replace it with the files themselves, or remove it`)
    for (const special of await listNonRegularFiles(context.root)) out.error(special.rel, 1, notRegularMessage(special.rel, special.kind))

    for (const object of context.objects) {
      const start = lineOf(object, [])
      if (object.apiVersion === undefined) out.error(object.file.rel, start, `${describeObject(object)}: missing apiVersion`)
      if (object.kind === undefined) out.error(object.file.rel, start, `${describeObject(object)}: missing kind`)
      if (object.name === undefined) {
        const metadata = object.doc.get('metadata', true)
        out.error(object.file.rel, isMap(metadata) ? lineOf(object, ['metadata']) : start, `${describeObject(object)}: missing metadata.name`)
      }
    }

    return {findings: out.findings}
  },
}
