// Preloaded into the CLI under test (NODE_OPTIONS=--require …): records everything the laptop
// side sends over SSH (each exec'd command line, and every chunk written to a channel's stdin)
// as JSON lines in HOMELAB_TEST_SSH_LOG, so a test can assert what never travels.
'use strict'
const fs = require('node:fs')
const {Client} = require('ssh2')

const log = process.env.HOMELAB_TEST_SSH_LOG
const record = (entry) => fs.appendFileSync(log, JSON.stringify(entry) + '\n')
const exec = Client.prototype.exec
Client.prototype.exec = function (command, ...rest) {
  record({command})
  const callback = rest.pop()
  rest.push((error, channel) => {
    if (channel) {
      const write = channel.write.bind(channel)
      channel.write = (chunk, ...args) => {
        record({stdin: String(chunk)})
        return write(chunk, ...args)
      }
    }
    callback(error, channel)
  })
  return exec.call(this, command, ...rest)
}
