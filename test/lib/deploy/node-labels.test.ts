// Node labels kept true after registration (src/lib/deploy/node-labels.ts): what changes, and
// that only keys homelab set (the managed-labels annotation) are ever removed.
import {describe, expect, it} from 'vitest'

import {MANAGED_LABELS_ANNOTATION, nodeLabelChanges} from '../../../src/lib/deploy/node-labels.js'

const node = (labels: Record<string, string>, managed?: string) => ({
  metadata: {annotations: managed === undefined ? {} : {[MANAGED_LABELS_ANNOTATION]: managed}, labels: {'kubernetes.io/hostname': 'azalab-1', ...labels}, name: 'azalab-1'},
})

describe('nodeLabelChanges', () => {
  it('a node registered with its labels needs only the annotation recording them', () => {
    expect(nodeLabelChanges(node({zone: 'attic'}), {zone: 'attic'})).toEqual({annotate: true, managed: ['zone'], remove: [], set: {}})
    expect(nodeLabelChanges(node({zone: 'attic'}, 'zone'), {zone: 'attic'})).toEqual({annotate: false, managed: ['zone'], remove: [], set: {}})
  })

  it('a changed value is set; a key homelab set and homelab.yaml dropped is removed', () => {
    expect(nodeLabelChanges(node({gpu: 'true', zone: 'attic'}, 'gpu,zone'), {zone: 'cellar'})).toEqual({annotate: true, managed: ['zone'], remove: ['gpu'], set: {zone: 'cellar'}})
  })

  it('a label someone else set (not in the annotation) is never removed', () => {
    expect(nodeLabelChanges(node({'topology.kubernetes.io/zone': 'a'}, 'gpu'), {})).toEqual({annotate: true, managed: [], remove: [], set: {}})
  })
})
