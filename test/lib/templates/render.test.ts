import {describe, expect, it} from 'vitest'

import {placeholdersOf, renderTemplate} from '../../../src/lib/templates/render.js'

describe('renderTemplate', () => {
  it('replaces placeholders, with or without inner spaces', () => {
    expect(renderTemplate('name: {{app}}\nhost: {{ hostname }}\n', {app: 'wiki', hostname: 'wiki.example.org'}, 't.yaml')).toBe(
      'name: wiki\nhost: wiki.example.org\n',
    )
  })

  it('names the template and the placeholder that has no value', () => {
    expect(() => renderTemplate('x: {{missing}}', {app: 'a'}, 'templates/app/x.yaml')).toThrow(
      'templates/app/x.yaml: placeholder {{missing}} has no value',
    )
  })

  it('lists placeholders once each', () => {
    expect(placeholdersOf('{{a}} {{b}} {{ a }}')).toEqual(['a', 'b'])
  })
})
