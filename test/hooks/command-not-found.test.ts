import {describe, expect, it} from 'vitest'

import {parseErrorAsUsageError} from '../../src/base-command.js'
import {unknownCommandError} from '../../src/hooks/command-not-found.js'

const catalog = {
  bin: 'homelab',
  commandIDs: ['app:list', 'app:new', 'app:remove', 'deploy', 'secrets:rotate', 'secrets:rotate-key', 'status', 'validate'],
  isTopic: (id: string) => id === 'app' || id === 'secrets',
}

describe('unknownCommandError', () => {
  it('names an unknown command and suggests only a near one; exit 3', () => {
    expect(unknownCommandError('deplyo', catalog)).toMatchObject({exitCode: 3, message: 'deplyo is not a homelab command', name: 'UsageError', suggestions: ['did you mean homelab deploy?', 'see homelab --help']})
    expect(unknownCommandError('frobnicate', catalog).suggestions).toEqual(['see homelab --help'])
  })

  it('names the topic of an unknown topic command and suggests among its commands', () => {
    expect(unknownCommandError('secrets:rotat', catalog)).toMatchObject({message: 'secrets rotat is not a homelab secrets command', suggestions: ['did you mean homelab secrets rotate?', 'see homelab secrets --help']})
    expect(unknownCommandError('app:zzz:yyy', catalog)).toMatchObject({message: 'app zzz yyy is not a homelab app command', suggestions: ['see homelab app --help']})
  })

  it('calls the words after a command that takes no arguments unexpected arguments', () => {
    expect(unknownCommandError('app:list:a:b', catalog)).toMatchObject({message: 'unexpected arguments: a b (homelab app list takes none)', suggestions: ['see homelab app list --help']})
  })

  it('says to name a command first when a flag comes first', () => {
    expect(unknownCommandError('--bogus', catalog).message).toBe('--bogus is not a homelab flag here: name a command first (homelab COMMAND [FLAGS])')
  })
})

describe('parseErrorAsUsageError', () => {
  it('joins oclif\'s message lines into one and turns its --help line into a suggestion', () => {
    const err = parseErrorAsUsageError('Parsing --port \n\tExpected an integer but received: abc\nSee more help with --help', 'homelab app new')
    expect(err).toMatchObject({exitCode: 3, message: 'Parsing --port Expected an integer but received: abc', name: 'UsageError', suggestions: ['see homelab app new --help']})
  })
})
