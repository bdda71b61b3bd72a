import {describe, expect, it} from 'vitest'

import {checkHostname, checkImage, checkName, checkPort, checkStorage, parseDotenv, parseEnvFlags} from '../../../src/lib/app/spec.js'

describe('app spec checks', () => {
  it('accepts DNS-1123 labels up to 63 characters', () => {
    expect(checkName('a')).toBe('a')
    expect(checkName('my-app-2')).toBe('my-app-2')
    expect(checkName('a'.repeat(63))).toBe('a'.repeat(63))
    for (const bad of ['', 'A', 'a_b', '-a', 'a-', 'a.b', 'ä']) expect(() => checkName(bad)).toThrow('must be a DNS-1123 label')
  })

  it('a bad quantity that starts with 0 (0XB) is a usage error, not "no volume"', () => {
    for (const bad of ['0XB', '0GB', '00x', '0.5.1', '0 Gi']) {
      expect(() => checkStorage(bad), bad).toThrow(`--storage "${bad}" is not a size: give a Kubernetes quantity like 10Gi or 500Mi`)
      expect((() => { try { checkStorage(bad) } catch (error) { return (error as {exitCode?: number}).exitCode } })(), bad).toBe(3)
    }

    for (const zero of ['0', '00', '0Gi', '0.0', '0.0Mi']) expect(checkStorage(zero), zero).toBeUndefined()
  })

  it('parses sizes, ports, images and hostnames', () => {
    expect(checkStorage('10Gi')).toBe('10Gi')
    expect(checkStorage('500M')).toBe('500M')
    expect(checkStorage('0')).toBeUndefined()
    expect(checkStorage('0Gi')).toBeUndefined()
    expect(() => checkStorage('10 GB')).toThrow('--storage "10 GB" is not a size: give a Kubernetes quantity like 10Gi')
    expect(checkPort(0)).toBeUndefined()
    expect(checkPort(8080)).toBe(8080)
    expect(() => checkPort(-1)).toThrow('--port -1 must be 1-65535')
    for (const image of ['nginx', 'nginx:1.27', 'ghcr.io/owner/app:v1.2.3', 'localhost:5000/a/b', `redis@sha256:${'a'.repeat(64)}`]) expect(checkImage(image)).toBe(image)
    for (const image of ['Nginx', 'nginx:', 'a b', 'nginx:1.27\nkind: Secret']) expect(() => checkImage(image)).toThrow('is not an image reference')
    expect(checkHostname('docs.aza.network')).toBe('docs.aza.network')
    expect(() => checkHostname('docs')).toThrow('must be a fully qualified host name')
  })

  it('parses --env pairs and refuses repeats', () => {
    expect(parseEnvFlags(['A=1', 'B=x=y', 'C='])).toEqual([
      {name: 'A', value: '1'},
      {name: 'B', value: 'x=y'},
      {name: 'C', value: ''},
    ])
    expect(() => parseEnvFlags(['A=1', 'A=2'])).toThrow('--env A is given twice')
    expect(() => parseEnvFlags(['1A=1'])).toThrow('--env 1A: not an environment variable name')
  })

  it('parses dotenv (comments, export, quotes) and never puts a value in an error', () => {
    const values = parseDotenv('# comment\nexport A=plain # trailing\nB="two words\\nline"\nC=\'#not-a-comment\'\n\n')
    expect(Object.fromEntries(values)).toEqual({A: 'plain', B: 'two words\nline', C: '#not-a-comment'})
    expect(() => parseDotenv('A=1\nsecret-value-without-key\n')).toThrow(/^stdin line 2: expected KEY=VALUE \(dotenv\)$/)
  })
})
